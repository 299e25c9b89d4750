# Adds bench/ to the mxgate build without editing the top-level
# CMakeLists.txt, for as long as that file lacks `add_subdirectory(bench)`.
# scripts/bench configures with -DCMAKE_PROJECT_mxgate_INCLUDE=<this file>:
# CMake includes it right after project(mxgate), before the packages are
# found and the service targets exist, so it defers reading
# bench/CMakeLists.txt to the end of the top-level file. A deferred call
# may not add a subdirectory, so the file is included instead (it names
# its paths from CMAKE_CURRENT_LIST_DIR for that). When the top-level file
# has the line, bench/ is among its SUBDIRECTORIES and nothing is done.
function(mxgate_add_bench_once)
  get_property(subdirectories DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY SUBDIRECTORIES)
  if(NOT "${CMAKE_SOURCE_DIR}/bench" IN_LIST subdirectories)
    include("${CMAKE_SOURCE_DIR}/bench/CMakeLists.txt")
  endif()
endfunction()
cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL mxgate_add_bench_once)
