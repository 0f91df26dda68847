#pragma once
// The firmware test compiles main/ once per ESP-IDF minor version idf_component.yml admits:
// -DSTUB_IDF_MAJOR=5 -DSTUB_IDF_MINOR=1 ... The headers below follow that version's layout.
#ifndef STUB_IDF_MAJOR
#define STUB_IDF_MAJOR 5
#define STUB_IDF_MINOR 3
#endif
#define ESP_IDF_VERSION_MAJOR STUB_IDF_MAJOR
#define ESP_IDF_VERSION_MINOR STUB_IDF_MINOR
#define ESP_IDF_VERSION_PATCH 0
#define ESP_IDF_VERSION_VAL(major, minor, patch) ((major << 16) | (minor << 8) | (patch))
#define ESP_IDF_VERSION ESP_IDF_VERSION_VAL(ESP_IDF_VERSION_MAJOR, ESP_IDF_VERSION_MINOR, 0)
