# nstest_add_suites(FILES <suite.toml>... [PREFIX <prefix>] [ARGS <nstest run flags>...]
#                   [LABELS <label>...] [WORKING_DIRECTORY <dir>])
#
# Registers every case of the given TOML suites as its own ctest test, named
# `<prefix><suite>.<case>`, that runs `nstest run <file> --case <suite>.<case>`: the case's exact
# name, never a pattern, so a name such as `server.accepts/backlog=-1` selects itself and nothing
# else, whatever scheduler variables ctest runs under (`--shard 0/1`: ctest shards by itself). The
# cases are listed with `nstest list` when CMake configures, and editing a suite configures again. A case nstest skips (a missing kernel feature, `min_kernel`, an expected
# failure) is reported by ctest as skipped, with nstest's reason in the output. Cases create
# network namespaces: run ctest as root or with CAP_SYS_ADMIN and CAP_NET_ADMIN.
function(nstest_add_suites)
  cmake_parse_arguments(ARG "" "PREFIX;WORKING_DIRECTORY" "FILES;ARGS;LABELS" ${ARGN})
  if(NOT ARG_FILES)
    message(FATAL_ERROR "nstest_add_suites: no FILES given")
  endif()
  if(NOT TARGET nstest::cli)
    message(FATAL_ERROR "nstest_add_suites: the nstest::cli target is missing; find_package(nstest) first")
  endif()
  get_target_property(nstest nstest::cli LOCATION)
  if(NOT ARG_WORKING_DIRECTORY)
    set(ARG_WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  foreach(file IN LISTS ARG_FILES)
    get_filename_component(path "${file}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${path}")
    # --shard 0/1: every case, whatever scheduler variables (GitLab's, Slurm's) the build runs under.
    execute_process(COMMAND "${nstest}" list "${path}" --shard 0/1 OUTPUT_VARIABLE listing
                    ERROR_VARIABLE error RESULT_VARIABLE status)
    if(NOT status EQUAL 0)
      message(FATAL_ERROR "nstest_add_suites: ${error}")
    endif()
    string(REPLACE "\n" ";" lines "${listing}")
    set(suite "")
    foreach(line IN LISTS lines)
      if(line MATCHES "^([^ ].*)\\.$")
        set(suite "${CMAKE_MATCH_1}")
      elseif(line MATCHES "^  (.+)$")
        set(case "${suite}.${CMAKE_MATCH_1}")
        set(name "${ARG_PREFIX}${case}")
        add_test(NAME "${name}"
                 COMMAND "${nstest}" run "${path}" --case "${case}" --shard 0/1 --cost-file none
                         ${ARG_ARGS}
                 WORKING_DIRECTORY "${ARG_WORKING_DIRECTORY}")
        set_tests_properties("${name}" PROPERTIES SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\] ")
        if(ARG_LABELS)
          set_tests_properties("${name}" PROPERTIES LABELS "${ARG_LABELS}")
        endif()
      endif()
    endforeach()
  endforeach()
endfunction()
