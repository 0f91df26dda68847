#pragma once
#include "freertos/FreeRTOS.h"
typedef void (*TaskFunction_t)(void*);
typedef struct tskTaskControlBlock* TaskHandle_t;
extern "C" void vTaskDelay(TickType_t);
extern "C" BaseType_t xTaskCreatePinnedToCore(TaskFunction_t, const char*, uint32_t, void*, unsigned, TaskHandle_t*, BaseType_t);
