# Host build of the portable core and its unit tests; included by firmware/host/CMakeLists.txt.
# Targets: sorter_core (library, used by the simulator and the protocol), sorter_core_test_* (ctest
# sorter_core.*), and the same tests built with -m32 (ctest sorter_core_m32.*) when a 32-bit
# toolchain is installed, because the ESP32-S3 is a 32-bit target (size_t, long and pointers are
# 4 bytes there).
set(SORTER_CORE_DIR ${CMAKE_CURRENT_LIST_DIR})
set(SORTER_CORE_SOURCES
  ${SORTER_CORE_DIR}/src/checksum.cc
  ${SORTER_CORE_DIR}/src/decision.cc
  ${SORTER_CORE_DIR}/src/labels.cc
  ${SORTER_CORE_DIR}/src/model_contract.cc
  ${SORTER_CORE_DIR}/src/model_partition.cc
  ${SORTER_CORE_DIR}/src/pipeline.cc
  ${SORTER_CORE_DIR}/src/preprocess.cc)
set(SORTER_CORE_TESTS preprocess decision model_partition checksum pipeline labels model_contract)

add_library(sorter_core STATIC ${SORTER_CORE_SOURCES})
target_include_directories(sorter_core PUBLIC ${SORTER_CORE_DIR}/include)
target_compile_options(sorter_core PRIVATE ${PLASTISORT_WARNINGS})

function(sorter_core_add_tests suffix lib)
  foreach(t ${SORTER_CORE_TESTS})
    set(exe sorter_core${suffix}_test_${t})
    add_executable(${exe} ${SORTER_CORE_DIR}/test/test_${t}.cc ${SORTER_CORE_DIR}/test/check_main.cc)
    target_link_libraries(${exe} PRIVATE ${lib})
    target_compile_options(${exe} PRIVATE ${PLASTISORT_WARNINGS} ${ARGN})
    target_link_options(${exe} PRIVATE ${ARGN})
    target_compile_definitions(${exe} PRIVATE SORTER_CORE_TEST_DIR="${SORTER_CORE_DIR}/test")
    add_test(NAME sorter_core${suffix}.${t} COMMAND ${exe})
  endforeach()
endfunction()

if(NOT PLASTISORT_FUZZ)
  sorter_core_add_tests("" sorter_core)

  option(PLASTISORT_M32 "Also build and test the portable core with -m32" ON)
  if(PLASTISORT_M32)
    include(CheckCXXSourceCompiles)
    set(CMAKE_REQUIRED_FLAGS -m32)
    set(CMAKE_REQUIRED_LINK_OPTIONS -m32)
    set(CMAKE_REQUIRED_QUIET ON)
    check_cxx_source_compiles("#include <cstdio>\n#include <vector>\nint main() { std::vector<int> v(3); std::printf(\"%zu\", v.size()); static_assert(sizeof(void*) == 4, \"32-bit\"); return 0; }"
      SORTER_CORE_HAVE_M32)
    unset(CMAKE_REQUIRED_FLAGS)
    unset(CMAKE_REQUIRED_LINK_OPTIONS)
    unset(CMAKE_REQUIRED_QUIET)
    if(SORTER_CORE_HAVE_M32)
      add_library(sorter_core_m32 STATIC ${SORTER_CORE_SOURCES})
      target_include_directories(sorter_core_m32 PUBLIC ${SORTER_CORE_DIR}/include)
      target_compile_options(sorter_core_m32 PRIVATE ${PLASTISORT_WARNINGS} -m32)
      target_link_options(sorter_core_m32 INTERFACE -m32)
      sorter_core_add_tests("_m32" sorter_core_m32 -m32)
      message(STATUS "sorter_core: 32-bit (-m32) build and tests enabled")
    else()
      message(STATUS "sorter_core: SKIPPING the -m32 build: no 32-bit C++ toolchain (on Debian/Ubuntu: apt-get install g++-multilib)")
    endif()
  endif()
endif()
