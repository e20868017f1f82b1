# Writes ${CMAKE_CURRENT_BINARY_DIR}/third-party-notices: the libraries whose code the nstest
# command carries in itself (compiled in from their headers, or linked from their archives), each
# with its licence, followed by the copyright files of those whose licences ask for their notice
# to go with every copy. The texts are those of the Debian packages this build used. Included by
# the top-level CMakeLists.txt after the static-linking choices are made.

set(_notices ${CMAKE_CURRENT_BINARY_DIR}/third-party-notices)
string(CONCAT _text "Third-party software in the nstest command\n\n"
       "The nstest command of this build carries the code of the libraries below in itself.\n\n")
set(_full "")

# nstest_notice NAME PATTERN LICENCE [COPYRIGHT]: lists NAME under LICENCE, with the Debian package
# holding a file that matches PATTERN (nstest_debian_package) and its version. With COPYRIGHT, the
# package's copyright file follows in full, and cmake warns when it cannot be found.
function(nstest_notice name pattern licence)
  nstest_debian_package("${pattern}" _package)
  set(_version "")
  if(_package)
    execute_process(COMMAND ${NSTEST_DPKG_QUERY} -W -f=\${Version} ${_package}
                    OUTPUT_VARIABLE _version ERROR_QUIET)
  endif()
  if(_package)
    string(APPEND _text "- ${name} (Debian package ${_package} ${_version}): ${licence}\n")
  else()
    string(APPEND _text "- ${name}: ${licence}\n")
  endif()
  if(ARGC GREATER 3)
    set(_copyright /usr/share/doc/${_package}/copyright)
    if(_package AND EXISTS ${_copyright})
      file(READ ${_copyright} _terms)
      string(APPEND _full "\n==== ${name}: ${_copyright} (${_package} ${_version}) ====\n\n"
             "${_terms}")
      set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_copyright})
    else()
      message(WARNING "nstest: the copyright file of ${name} (a file matching ${pattern}) was "
                      "not found: third-party-notices lacks its licence's notice")
    endif()
  endif()
  set(_text "${_text}" PARENT_SCOPE)
  set(_full "${_full}" PARENT_SCOPE)
endfunction()

# Compiled in, always: their headers are the libraries.
nstest_notice(toml++ "*/toml++/toml.h" "MIT licence" COPYRIGHT)
nstest_notice(CLI11 "*/CLI/CLI.hpp" "BSD 3-clause licence" COPYRIGHT)
if(TARGET nstest_libnl_static)
  string(CONCAT _lgpl "GNU Lesser General Public License 2.1 (on Debian in "
         "/usr/share/common-licenses/LGPL-2.1), linked statically: its section 6 asks whoever "
         "passes this command on to let its users relink it with a changed libnl. The .deb and "
         "the container image link libnl's shared libraries instead (-DNSTEST_STATIC_LIBNL=OFF).")
  nstest_notice("libnl-3, libnl-route-3, libnl-nf-3" "*/libnl-3.a" "${_lgpl}" COPYRIGHT)
endif()
if(NSTEST_STATIC_CXX_FOUND)
  nstest_notice(pugixml "*/libpugixml.a" "MIT licence" COPYRIGHT)
  string(CONCAT _bsl "Boost Software License 1.0, which asks nothing of copies in "
         "machine-executable form")
  nstest_notice("Boost.Filesystem ${Boost_VERSION}" "*/libboost_filesystem.a" "${_bsl}")
  nstest_notice({fmt} "*/fmt/format.h"
                "MIT licence, with its exception for copies in machine-executable form")
  string(APPEND _text "- the GNU C++ runtime (libstdc++, libgcc): GNU GPL 3 with the GCC Runtime "
         "Library Exception\n")
endif()
if(_full)
  string(APPEND _text "\nThe copyright files of those whose licences ask for their notice follow.\n"
         "${_full}")
endif()
file(WRITE ${_notices} "${_text}")
