#pragma once
#include "freertos/FreeRTOS.h"
typedef struct QueueDefinition* SemaphoreHandle_t;
extern "C" SemaphoreHandle_t xSemaphoreCreateMutex(void);
extern "C" SemaphoreHandle_t xSemaphoreCreateBinary(void);
extern "C" BaseType_t xSemaphoreTake(SemaphoreHandle_t, TickType_t);
extern "C" BaseType_t xSemaphoreGive(SemaphoreHandle_t);
extern "C" BaseType_t xSemaphoreGiveFromISR(SemaphoreHandle_t, BaseType_t*);
