// One JSON object per line, written straight into a string: the event path
// writes hundreds of thousands a second, where building a tree per event
// (nlohmann::json) cost most of the time. Keys are written in the order
// given (callers give them sorted, as nlohmann's objects print); strings are
// escaped as JSON requires, invalid UTF-8 becomes U+FFFD.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rtd {

class JsonLine {
public:
    explicit JsonLine(std::string& out) : out_(out) { out_ += '{'; }
    void key(std::string_view k)
    {
        if (!first_) out_ += ',';
        first_ = false;
        string(k);
        out_ += ':';
    }
    void field(std::string_view k, std::string_view v) { key(k), string(v); }
    void field(std::string_view k, const char* v) { key(k), string(v); }
    void field(std::string_view k, std::uint64_t v) { key(k), number(v); }
    void field(std::string_view k, std::int64_t v) { key(k), number(v); }
    void field(std::string_view k, std::uint32_t v) { key(k), number(std::uint64_t{v}); }
    void field(std::string_view k, std::uint16_t v) { key(k), number(std::uint64_t{v}); }
    void field(std::string_view k, bool v) { key(k), out_ += v ? "true" : "false"; }
    void field(std::string_view k, std::nullptr_t) { key(k), out_ += "null"; }
    // A nested object: its fields, then end_object().
    void begin_object(std::string_view k) { key(k), out_ += '{', first_ = true; }
    void end_object() { out_ += '}', first_ = false; }
    void begin_array(std::string_view k) { key(k), out_ += '[', first_ = true; }
    void element(std::string_view v)
    {
        if (!first_) out_ += ',';
        first_ = false;
        string(v);
    }
    // An object as an element of an array: its fields, then end_object().
    void begin_element_object()
    {
        if (!first_) out_ += ',';
        out_ += '{', first_ = true;
    }
    void end_array() { out_ += ']', first_ = false; }
    // Closes the object and ends the line.
    void finish() { out_ += "}\n"; }

    void string(std::string_view s);
    void number(std::uint64_t v);
    void number(std::int64_t v);

private:
    std::string& out_;
    bool first_ = true;
};

}  // namespace rtd
