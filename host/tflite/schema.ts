/**
 * The subset of the TFLite flatbuffer schema (tensorflow/lite/schema/schema.fbs, version 3) that this
 * project writes and reads. Field ids are the zero-based declaration order of each table's fields; a
 * union field takes two ids (the type byte first, then the table offset). These numbers are facts of
 * the published schema: changing one breaks compatibility with every TFLite runtime.
 */

export const FILE_IDENTIFIER = 'TFL3';
export const SCHEMA_VERSION = 3;

/** Constant tensor data is aligned so runtimes can map it in place (schema: `force_align: 16`). */
export const BUFFER_ALIGNMENT = 16;

export const Model = {
  version: 0,
  operatorCodes: 1,
  subgraphs: 2,
  description: 3,
  buffers: 4,
  metadataBuffer: 5,
  metadata: 6,
  signatureDefs: 7,
} as const;

export const SubGraph = {
  tensors: 0,
  inputs: 1,
  outputs: 2,
  operators: 3,
  name: 4,
} as const;

export const Tensor = {
  shape: 0,
  type: 1,
  buffer: 2,
  name: 3,
  quantization: 4,
  isVariable: 5,
  sparsity: 6,
  shapeSignature: 7,
  hasRank: 8,
} as const;

export const QuantizationParameters = {
  min: 0,
  max: 1,
  scale: 2,
  zeroPoint: 3,
  detailsType: 4,
  details: 5,
  quantizedDimension: 6,
} as const;

export const Buffer = {
  data: 0,
  /** Only in models over 2 GB: data lives at this file offset instead of `data`. */
  offset: 1,
  size: 2,
} as const;

export const OperatorCode = {
  /** int8; holds the code when it is below 127 (PLACEHOLDER_FOR_GREATER_OP_CODES), else 127. */
  deprecatedBuiltinCode: 0,
  customCode: 1,
  version: 2,
  /** int32; the full code. Readers take max(deprecated, builtin) as TFLite does. */
  builtinCode: 3,
} as const;

export const Operator = {
  opcodeIndex: 0,
  inputs: 1,
  outputs: 2,
  builtinOptionsType: 3,
  builtinOptions: 4,
  customOptions: 5,
  customOptionsFormat: 6,
  mutatingVariableInputs: 7,
  intermediates: 8,
} as const;

export const Conv2DOptions = {
  padding: 0,
  strideW: 1,
  strideH: 2,
  fusedActivation: 3,
  dilationW: 4,
  dilationH: 5,
} as const;

export const DepthwiseConv2DOptions = {
  padding: 0,
  strideW: 1,
  strideH: 2,
  depthMultiplier: 3,
  fusedActivation: 4,
  dilationW: 5,
  dilationH: 6,
} as const;

export const Pool2DOptions = {
  padding: 0,
  strideW: 1,
  strideH: 2,
  filterWidth: 3,
  filterHeight: 4,
  fusedActivation: 5,
} as const;

export const FullyConnectedOptions = {
  fusedActivation: 0,
  weightsFormat: 1,
  keepNumDims: 2,
  asymmetricQuantizeInputs: 3,
} as const;

export const SoftmaxOptions = { beta: 0 } as const;
export const AddOptions = { fusedActivation: 0, potScaleInt16: 1 } as const;
export const ReshapeOptions = { newShape: 0 } as const;
export const ReducerOptions = { keepDims: 0 } as const;
/** PadOptions has no fields. */
export const PadOptions = {} as const;

export const Metadata = { name: 0, buffer: 1 } as const;
export const TensorMap = { name: 0, tensorIndex: 1 } as const;
export const SignatureDef = {
  inputs: 0,
  outputs: 1,
  signatureKey: 2,
  deprecatedTag: 3,
  subgraphIndex: 4,
} as const;

/** `union BuiltinOptions` member numbers (NONE = 0) for the option tables above. */
export const BuiltinOptionsType = {
  NONE: 0,
  Conv2DOptions: 1,
  DepthwiseConv2DOptions: 2,
  Pool2DOptions: 5,
  FullyConnectedOptions: 8,
  SoftmaxOptions: 9,
  AddOptions: 11,
  ReshapeOptions: 17,
  PadOptions: 22,
  ReducerOptions: 27,
  DequantizeOptions: 38,
  QuantizeOptions: 89,
} as const;

export const Padding = { SAME: 0, VALID: 1 } as const;

export const ActivationFunctionType = {
  NONE: 0,
  RELU: 1,
  RELU_N1_TO_1: 2,
  RELU6: 3,
  TANH: 4,
  SIGN_BIT: 5,
} as const;

/**
 * `enum BuiltinOperator`, index = code. Complete up to the codes a MobileNet-class model or a common
 * converter output uses; codes past the end are reported as `BUILTIN_<code>`.
 */
export const BUILTIN_OPERATOR_NAMES: readonly string[] = [
  'ADD', 'AVERAGE_POOL_2D', 'CONCATENATION', 'CONV_2D', 'DEPTHWISE_CONV_2D', 'DEPTH_TO_SPACE', 'DEQUANTIZE',
  'EMBEDDING_LOOKUP', 'FLOOR', 'FULLY_CONNECTED', 'HASHTABLE_LOOKUP', 'L2_NORMALIZATION', 'L2_POOL_2D',
  'LOCAL_RESPONSE_NORMALIZATION', 'LOGISTIC', 'LSH_PROJECTION', 'LSTM', 'MAX_POOL_2D', 'MUL', 'RELU',
  'RELU_N1_TO_1', 'RELU6', 'RESHAPE', 'RESIZE_BILINEAR', 'RNN', 'SOFTMAX', 'SPACE_TO_DEPTH', 'SVDF', 'TANH',
  'CONCAT_EMBEDDINGS', 'SKIP_GRAM', 'CALL', 'CUSTOM', 'EMBEDDING_LOOKUP_SPARSE', 'PAD',
  'UNIDIRECTIONAL_SEQUENCE_RNN', 'GATHER', 'BATCH_TO_SPACE_ND', 'SPACE_TO_BATCH_ND', 'TRANSPOSE', 'MEAN', 'SUB',
  'DIV', 'SQUEEZE', 'UNIDIRECTIONAL_SEQUENCE_LSTM', 'STRIDED_SLICE', 'BIDIRECTIONAL_SEQUENCE_RNN', 'EXP',
  'TOPK_V2', 'SPLIT', 'LOG_SOFTMAX', 'DELEGATE', 'BIDIRECTIONAL_SEQUENCE_LSTM', 'CAST', 'PRELU', 'MAXIMUM',
  'ARG_MAX', 'MINIMUM', 'LESS', 'NEG', 'PADV2', 'GREATER', 'GREATER_EQUAL', 'LESS_EQUAL', 'SELECT', 'SLICE',
  'SIN', 'TRANSPOSE_CONV', 'SPARSE_TO_DENSE', 'TILE', 'EXPAND_DIMS', 'EQUAL', 'NOT_EQUAL', 'LOG', 'SUM', 'SQRT',
  'RSQRT', 'SHAPE', 'POW', 'ARG_MIN', 'FAKE_QUANT', 'REDUCE_PROD', 'REDUCE_MAX', 'PACK', 'LOGICAL_OR',
  'ONE_HOT', 'LOGICAL_AND', 'LOGICAL_NOT', 'UNPACK', 'REDUCE_MIN', 'FLOOR_DIV', 'REDUCE_ANY', 'SQUARE',
  'ZEROS_LIKE', 'FILL', 'FLOOR_MOD', 'RANGE', 'RESIZE_NEAREST_NEIGHBOR', 'LEAKY_RELU', 'SQUARED_DIFFERENCE',
  'MIRROR_PAD', 'ABS', 'SPLIT_V', 'UNIQUE', 'CEIL', 'REVERSE_V2', 'ADD_N', 'GATHER_ND', 'COS', 'WHERE', 'RANK',
  'ELU', 'REVERSE_SEQUENCE', 'MATRIX_DIAG', 'QUANTIZE', 'MATRIX_SET_DIAG', 'ROUND', 'HARD_SWISH', 'IF', 'WHILE',
  'NON_MAX_SUPPRESSION_V4', 'NON_MAX_SUPPRESSION_V5', 'SCATTER_ND', 'SELECT_V2', 'DENSIFY', 'SEGMENT_SUM',
  'BATCH_MATMUL', 'PLACEHOLDER_FOR_GREATER_OP_CODES', 'CUMSUM', 'CALL_ONCE', 'BROADCAST_TO', 'RFFT2D',
  'CONV_3D', 'IMAG', 'REAL', 'COMPLEX_ABS', 'HASHTABLE', 'HASHTABLE_FIND', 'HASHTABLE_IMPORT',
  'HASHTABLE_SIZE', 'REDUCE_ALL', 'CONV_3D_TRANSPOSE', 'VAR_HANDLE', 'READ_VARIABLE', 'ASSIGN_VARIABLE',
  'BROADCAST_ARGS', 'RANDOM_STANDARD_NORMAL', 'BUCKETIZE', 'RANDOM_UNIFORM', 'MULTINOMIAL', 'GELU',
  'DYNAMIC_UPDATE_SLICE', 'RELU_0_TO_1', 'UNSORTED_SEGMENT_PROD', 'UNSORTED_SEGMENT_MAX',
  'UNSORTED_SEGMENT_SUM', 'ATAN2', 'UNSORTED_SEGMENT_MIN', 'SIGN', 'BITCAST', 'BITWISE_XOR', 'RIGHT_SHIFT',
];

export const BuiltinOperator = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  SOFTMAX: 25,
  CUSTOM: 32,
  PAD: 34,
  MEAN: 40,
  QUANTIZE: 114,
  /** Codes at or above this one only fit in `builtin_code`; `deprecated_builtin_code` holds 127. */
  PLACEHOLDER_FOR_GREATER_OP_CODES: 127,
} as const;

export function builtinOperatorName(code: number): string {
  return BUILTIN_OPERATOR_NAMES[code] ?? `BUILTIN_${code}`;
}
