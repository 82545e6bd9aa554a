#include "compiler/install_paths.h"

#include <cstdlib>
#include <string>

namespace fs = std::filesystem;

namespace rtd {

std::vector<fs::path> folders_in_env(const char* variable)
{
    std::vector<fs::path> out;
    const char* env = std::getenv(variable);
    if (!env || !*env) return out;
    const std::string s = env;
    for (std::size_t b = 0; b <= s.size();) {
        std::size_t e = s.find(':', b);
        if (e == std::string::npos) e = s.size();
        if (e > b) out.emplace_back(s.substr(b, e - b));
        b = e + 1;
    }
    return out;
}

fs::path executable_dir()
{
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : exe.parent_path();
}

SearchPaths default_search_paths()
{
    SearchPaths paths;
    std::error_code ec;
    if (const char* env = std::getenv("RTRACE_DROP_STDLIB"); env && *env) {
        paths.stdlib.emplace_back(env);
    } else if (fs::path installed = executable_dir() / "../share/rtrace-drop/stdlib"; fs::is_directory(installed, ec)) {
        paths.stdlib.push_back(installed.lexically_normal());
    } else {
        paths.stdlib.emplace_back(RTD_SOURCE_DIR "/stdlib");
    }
    paths.extra = folders_in_env("RTRACE_DROP_PATH");
    return paths;
}

fs::path shipped_rules_dir()
{
    std::error_code ec;
    fs::path installed = executable_dir() / "../share/rtrace-drop/rules";
    if (fs::is_directory(installed, ec)) return installed.lexically_normal();
    return RTD_SOURCE_DIR "/rules";
}

}  // namespace rtd
