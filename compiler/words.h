// A text's words, split at whitespace: step arguments, evidence arguments.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace rtd {

inline std::vector<std::string> split_words(const std::string& text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

}  // namespace rtd
