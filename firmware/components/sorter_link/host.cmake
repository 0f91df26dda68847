# Host build of the sorter serial protocol: included by firmware/host/CMakeLists.txt.
set(SORTER_LINK_DIR ${CMAKE_CURRENT_LIST_DIR})

add_library(sorter_link STATIC
  ${SORTER_LINK_DIR}/src/crc32.cc
  ${SORTER_LINK_DIR}/src/frame.cc
  ${SORTER_LINK_DIR}/src/dispatcher.cc
  ${SORTER_LINK_DIR}/src/serve.cc)
target_include_directories(sorter_link PUBLIC
  ${SORTER_LINK_DIR}/include
  ${SORTER_LINK_DIR}/../sorter_core/include)
target_compile_options(sorter_link PRIVATE ${PLASTISORT_WARNINGS})

if(NOT PLASTISORT_FUZZ)
  add_executable(sorter_link_test ${SORTER_LINK_DIR}/test/sorter_link_test.cc ${SORTER_LINK_DIR}/test/mini_json.cc)
  target_link_libraries(sorter_link_test PRIVATE sorter_link)
  target_compile_options(sorter_link_test PRIVATE ${PLASTISORT_WARNINGS})
  target_compile_definitions(sorter_link_test PRIVATE
    PROTOCOL_VECTORS="${SORTER_LINK_DIR}/../../../test/vectors/protocol-frames.json")
  add_test(NAME sorter_link.protocol COMMAND sorter_link_test)
endif()

# libFuzzer target for the streaming frame decoder: configure with -DPLASTISORT_FUZZ=ON and clang
# (scripts/fuzz.mjs does this in build-fuzz/).
if(PLASTISORT_FUZZ)
  add_executable(fuzz_frame_decoder ${SORTER_LINK_DIR}/test/fuzz_frame_decoder.cc)
  target_link_libraries(fuzz_frame_decoder PRIVATE sorter_link)
  target_compile_options(fuzz_frame_decoder PRIVATE -fsanitize=fuzzer,address)
  target_link_options(fuzz_frame_decoder PRIVATE -fsanitize=fuzzer,address)
endif()
