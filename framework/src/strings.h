// Small string helpers shared by the library's parsers and messages.
#ifndef NSTEST_SRC_STRINGS_H_
#define NSTEST_SRC_STRINGS_H_

#include <string>
#include <string_view>
#include <vector>

namespace nstest {

std::vector<std::string> Split(std::string_view s, char sep);
std::string Join(const std::vector<std::string>& parts, char sep);
// Trims and folds runs of whitespace into single spaces ("4096\t131072\n" -> "4096 131072").
std::string NormalizeSpaces(std::string_view s);
// A character as it can be shown in a message: itself if printable, else "\xNN".
std::string Printable(char c);
// `s` as a TOML basic string writes it, quotes included, so it can be pasted into a suite:
// "HTTP/1.1 200 OK\r\nDate: ..." (\" \\ \b \t \n \f \r, other control characters as \uXXXX;
// a byte that is not UTF-8 as \xNN, which TOML has no escape for).
std::string TomlQuoted(std::string_view s);
// `argv` as a shell would need it typed: each argument as is where that is safe, else in single
// quotes ('' for an empty one, '\'' for a quote inside).
std::string ShellQuoted(const std::vector<std::string>& argv);
// Edit distance with transpositions (optimal string alignment).
size_t EditDistance(std::string_view a, std::string_view b);
// The candidate that `name` most likely meant, or "": the shortest candidate ending with `name`
// (a name missing its prefix, e.g. "ListenOverflows" for "TcpExtListenOverflows"), else the
// nearest by edit distance, ignoring case, if at most a third of the name's length (at least 1).
std::string ClosestName(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace nstest

#endif  // NSTEST_SRC_STRINGS_H_
