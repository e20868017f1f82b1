# nstest_debian_package(PATTERN VAR): sets VAR to the Debian package holding a file that matches
# PATTERN (`dpkg-query -S`, e.g. "*/libpcap.so.0.8": by file name, since with /usr merged dpkg may
# know a file under /lib instead), or to "" where dpkg is missing or cannot tell.

find_program(NSTEST_DPKG_QUERY dpkg-query)
mark_as_advanced(NSTEST_DPKG_QUERY)

function(nstest_debian_package pattern var)
  set(_package "")
  if(NSTEST_DPKG_QUERY)
    execute_process(COMMAND ${NSTEST_DPKG_QUERY} -S "${pattern}" OUTPUT_VARIABLE _owner
                    ERROR_QUIET RESULT_VARIABLE _rc)
    # "package[:arch][, other]: /path"; dpkg's "diversion by ..." lines do not match.
    if(_rc EQUAL 0 AND _owner MATCHES "(^|\n)([a-z0-9][a-z0-9+.-]+)(:[a-z0-9]+)?(, |: )")
      set(_package ${CMAKE_MATCH_2})
    endif()
  endif()
  set(${var} "${_package}" PARENT_SCOPE)
endfunction()
