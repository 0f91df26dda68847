# The ESP-IDF components firmware/main needs, by ESP-IDF version (idf_component.yml: 5.1 to 6.0).
# Sets MAIN_PRIV_REQUIRES from IDF_VERSION_MAJOR / IDF_VERSION_MINOR (set by ESP-IDF's build; the
# firmware test passes them to `cmake -P` for each supported version).
#
# esp_psram: with `set(COMPONENTS main)` only required components are built, and without esp_psram
# the CONFIG_SPIRAM* options in sdkconfig.defaults.esp32s3 are unknown symbols, PSRAM stays off and
# the arena, frame buffers and labels cannot be allocated (v5.1-v5.4 pull it in no other way).
# GPIO, LEDC and USB-Serial-JTAG drivers: their own components since v5.3; the umbrella `driver`
# component no longer carries them from v6.0.
set(MAIN_PRIV_REQUIRES esp_psram esp_timer esp_partition spi_flash vfs esp_app_format)
if(IDF_VERSION_MAJOR GREATER 5 OR (IDF_VERSION_MAJOR EQUAL 5 AND IDF_VERSION_MINOR GREATER_EQUAL 3))
  list(APPEND MAIN_PRIV_REQUIRES esp_driver_gpio esp_driver_ledc esp_driver_usb_serial_jtag)
else()
  list(APPEND MAIN_PRIV_REQUIRES driver)
endif()
