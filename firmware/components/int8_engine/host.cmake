# Int8 reference engine (host build). Included by firmware/host/CMakeLists.txt, which defines
# PLASTISORT_WARNINGS and FW_COMPONENTS and enables ctest.
set(INT8_ENGINE_DIR ${FW_COMPONENTS}/int8_engine)
# The instrumented builds below (fuzzer, sanitizers) compile these again rather than link the library.
set(INT8_ENGINE_SOURCES
  ${INT8_ENGINE_DIR}/src/engine.cc
  ${INT8_ENGINE_DIR}/src/fixed_point.cc
  ${INT8_ENGINE_DIR}/src/flatbuffer.cc
  ${INT8_ENGINE_DIR}/src/kernels.cc
  ${INT8_ENGINE_DIR}/src/model.cc
  ${FW_COMPONENTS}/sorter_core/src/checksum.cc)

add_library(int8_engine STATIC ${INT8_ENGINE_SOURCES})
target_include_directories(int8_engine PUBLIC
  ${INT8_ENGINE_DIR}/include
  ${FW_COMPONENTS}/sorter_core/include)
target_compile_options(int8_engine PRIVATE ${PLASTISORT_WARNINGS})
# The kernels dominate simulator time; optimise them even in debug configurations.
target_compile_options(int8_engine PRIVATE -O2)
# Rounding::kXnnpack reproduces float32 steps one by one; an FMA contraction would change results.
target_compile_options(int8_engine PRIVATE -ffp-contract=off)


if(PLASTISORT_FUZZ)
  # libFuzzer target (scripts/fuzz.mjs: clang, build-fuzz/). The engine sources are compiled again with
  # instrumentation; the work cap keeps each input fast.
  add_executable(fuzz_int8_model
    ${INT8_ENGINE_DIR}/fuzz/fuzz_int8_model.cc
    ${INT8_ENGINE_SOURCES})
  target_include_directories(fuzz_int8_model PRIVATE ${INT8_ENGINE_DIR}/include ${FW_COMPONENTS}/sorter_core/include)
  target_compile_definitions(fuzz_int8_model PRIVATE INT8_ENGINE_MAX_MACS=2e7)
  target_compile_options(fuzz_int8_model PRIVATE -g -ffp-contract=off -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
  target_link_options(fuzz_int8_model PRIVATE -fsanitize=fuzzer,address,undefined)
  return()
endif()

add_executable(int8-run ${INT8_ENGINE_DIR}/tools/int8_run.cc)
target_link_libraries(int8-run PRIVATE int8_engine)
target_compile_options(int8-run PRIVATE ${PLASTISORT_WARNINGS})
set_target_properties(int8-run PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/int8_engine)

add_executable(int8_engine_tests
  ${INT8_ENGINE_DIR}/tests/engine_tests.cc
  ${INT8_ENGINE_DIR}/tests/model_builder.cc)
target_link_libraries(int8_engine_tests PRIVATE int8_engine)
target_include_directories(int8_engine_tests PRIVATE ${INT8_ENGINE_DIR}/tests)
target_compile_options(int8_engine_tests PRIVATE ${PLASTISORT_WARNINGS})
set_target_properties(int8_engine_tests PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/int8_engine)
foreach(group fixed_point sha256 kernels xnnpack parser engine)
  add_test(NAME int8_engine.${group} COMMAND int8_engine_tests ${group})
endforeach()

# The parser robustness test again under AddressSanitizer + UndefinedBehaviorSanitizer (GCC supports
# both; no clang needed). The sources are compiled a second time with instrumentation.
include(CheckCXXSourceCompiles)
set(CMAKE_REQUIRED_FLAGS "-fsanitize=address,undefined")
set(CMAKE_REQUIRED_LINK_OPTIONS "-fsanitize=address,undefined")
check_cxx_source_compiles("int main() { return 0; }" INT8_ENGINE_HAVE_ASAN)
unset(CMAKE_REQUIRED_FLAGS)
unset(CMAKE_REQUIRED_LINK_OPTIONS)
if(INT8_ENGINE_HAVE_ASAN)
  # An executable of the engine sources plus `extra` sources, built with the sanitizers (and without FMA
  # contraction, as the library: Rounding::kXnnpack depends on it).
  function(int8_engine_sanitized target)
    add_executable(${target} ${ARGN} ${INT8_ENGINE_SOURCES})
    target_include_directories(${target} PRIVATE
      ${INT8_ENGINE_DIR}/include ${INT8_ENGINE_DIR}/tests ${FW_COMPONENTS}/sorter_core/include)
    target_compile_options(${target} PRIVATE ${PLASTISORT_WARNINGS} -O1 -g -ffp-contract=off
      -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
    set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/int8_engine)
  endfunction()

  int8_engine_sanitized(int8_engine_tests_asan
    ${INT8_ENGINE_DIR}/tests/engine_tests.cc
    ${INT8_ENGINE_DIR}/tests/model_builder.cc)
  add_test(NAME int8_engine.parser_asan COMMAND int8_engine_tests_asan parser)
  add_test(NAME int8_engine.kernels_asan COMMAND int8_engine_tests_asan kernels)
  add_test(NAME int8_engine.xnnpack_asan COMMAND int8_engine_tests_asan xnnpack)
  # The fuzz entry point replayed over its seed corpus (and every 7th prefix) under the sanitizers.
  int8_engine_sanitized(int8_engine_fuzz_replay
    ${INT8_ENGINE_DIR}/fuzz/fuzz_int8_model.cc
    ${INT8_ENGINE_DIR}/fuzz/replay_main.cc)
  target_compile_definitions(int8_engine_fuzz_replay PRIVATE INT8_ENGINE_MAX_MACS=2e7)
  add_test(NAME int8_engine.fuzz_replay COMMAND int8_engine_fuzz_replay ${INT8_ENGINE_DIR}/fuzz/corpus_fuzz_int8_model)
endif()
