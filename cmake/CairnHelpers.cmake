# Helpers shared by every module's CMakeLists.txt.

# cairn_test(NAME <name> LABELS <label>... SOURCES <src>... [LIBS <lib>...]
#            [TIMEOUT <seconds>] [CRITERION] [ARGS <arg>...])
#
# Builds one test executable and registers it with CTest under the given
# labels (unit, sim, integration, compat, docker), so a tier runs alone with
# `ctest -L <label>`. CRITERION links Criterion's runner and main(). Tests run
# with the source and build roots in the environment, so they can find
# fixtures and binaries without guessing.
function(cairn_test)
  cmake_parse_arguments(T "CRITERION" "NAME;TIMEOUT" "LABELS;SOURCES;LIBS;ARGS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS})
  if(T_CRITERION)
    target_link_libraries(${T_NAME} PRIVATE PkgConfig::CRITERION)
    # Criterion forks one process per test; --jobs keeps 2-core machines sane.
    set(T_ARGS --jobs 2 ${T_ARGS})
  endif()
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES
    LABELS "${T_LABELS}"
    TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "CAIRN_SOURCE_DIR=${CMAKE_SOURCE_DIR};CAIRN_BUILD_DIR=${CMAKE_BINARY_DIR};ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endfunction()

# cairn_script_test(NAME <name> LABELS <label>... COMMAND <cmd>... [TIMEOUT s])
#
# Registers a test that is a script (shell or Python) rather than a C binary:
# the compatibility tier drives the real etcdctl and python3-etcd3 this way.
function(cairn_script_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "LABELS;COMMAND" ${ARGN})
  add_test(NAME ${T_NAME} COMMAND ${T_COMMAND})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES
    LABELS "${T_LABELS}"
    TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "CAIRN_SOURCE_DIR=${CMAKE_SOURCE_DIR};CAIRN_BUILD_DIR=${CMAKE_BINARY_DIR}")
endfunction()
