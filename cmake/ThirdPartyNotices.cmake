# Writes ${CMAKE_CURRENT_BINARY_DIR}/third-party-notices: the notices of the libraries whose code
# the nstest command carries, linked from their archives. pugixml's MIT licence asks for its
# notice with every copy, libnl's LGPL for a notice that it is used and under which terms; the
# terms are the ones of the packages this build linked, read from their Debian copyright files.
# Included by the top-level CMakeLists.txt after the static-linking choices are made.

set(_notices ${CMAKE_CURRENT_BINARY_DIR}/third-party-notices)
set(_text "Third-party software in the nstest command\n\n")
string(APPEND _text
       "The nstest command of this build carries the code of the libraries below, linked from "
       "their archives.\n\n")
set(_full "")

find_program(NSTEST_DPKG_QUERY dpkg-query)
mark_as_advanced(NSTEST_DPKG_QUERY)

# nstest_notice NAME FILE LICENCE: lists NAME (whose code FILE holds) under LICENCE, and appends
# the copyright file of the Debian package holding FILE, with the package's version.
function(nstest_notice name file licence)
  set(_package "")
  set(_version "")
  if(NSTEST_DPKG_QUERY AND file)
    get_filename_component(_base "${file}" NAME)
    execute_process(COMMAND ${NSTEST_DPKG_QUERY} -S "*/${_base}" OUTPUT_VARIABLE _owner
                    ERROR_QUIET RESULT_VARIABLE _rc)
    if(_rc EQUAL 0 AND _owner MATCHES "^([^:, ]+)")
      set(_package ${CMAKE_MATCH_1})
      execute_process(COMMAND ${NSTEST_DPKG_QUERY} -W -f=\${Version} ${_package}
                      OUTPUT_VARIABLE _version ERROR_QUIET)
    endif()
  endif()
  if(_package)
    string(APPEND _text "- ${name} (Debian package ${_package} ${_version}): ${licence}\n")
  else()
    string(APPEND _text "- ${name}: ${licence}\n")
  endif()
  set(_copyright /usr/share/doc/${_package}/copyright)
  if(_package AND EXISTS ${_copyright})
    file(READ ${_copyright} _terms)
    string(APPEND _full "\n==== ${name}: ${_copyright} of ${_package} ${_version} ====\n\n"
           "${_terms}")
  endif()
  set(_text "${_text}" PARENT_SCOPE)
  set(_full "${_full}" PARENT_SCOPE)
endfunction()

set(_any OFF)
if(TARGET nstest_libnl_static)
  set(_any ON)
  nstest_notice("libnl-3, libnl-route-3, libnl-nf-3" "${NSTEST_LIBNL_A}"
                "GNU Lesser General Public License 2.1 (on Debian: /usr/share/common-licenses/LGPL-2.1)")
endif()
if(NSTEST_STATIC_CXX_FOUND)
  set(_any ON)
  get_target_property(_pugixml_a pugixml::static LOCATION)
  nstest_notice(pugixml "${_pugixml_a}" "MIT licence")
  string(APPEND _text
         "- Boost.Filesystem ${Boost_VERSION}: Boost Software License 1.0, which asks nothing of "
         "copies in machine-executable form\n"
         "- {fmt}: MIT licence, with its exception for copies in machine-executable form\n"
         "- the GNU C++ runtime (libstdc++, libgcc): GNU GPL 3 with the GCC Runtime Library "
         "Exception\n")
endif()
if(NOT _any)
  string(APPEND _text "None: this build links every library it uses as a shared library.\n")
endif()
if(_full)
  string(APPEND _text "\nTheir copyright files follow.\n${_full}")
endif()
file(WRITE ${_notices} "${_text}")
