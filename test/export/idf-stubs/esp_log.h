#pragma once
#include <cstdarg>
#include <cstdint>
typedef int (*vprintf_like_t)(const char*, va_list);
extern "C" vprintf_like_t esp_log_set_vprintf(vprintf_like_t func);
extern "C" uint32_t esp_log_timestamp(void);
void stub_log(const char* tag, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
#define ESP_LOGI(tag, fmt, ...) stub_log(tag, fmt, ##__VA_ARGS__)
#define ESP_LOGW(tag, fmt, ...) stub_log(tag, fmt, ##__VA_ARGS__)
#define ESP_LOGE(tag, fmt, ...) stub_log(tag, fmt, ##__VA_ARGS__)
