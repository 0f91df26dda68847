#pragma once
#include "tensorflow/lite/schema/schema_generated.h"
namespace tflite { BuiltinOperator GetBuiltinCode(const OperatorCode* op_code); }
