// A minimal JSON reader for the tests: enough for the golden fixtures' metadata (objects,
// arrays, strings without escapes beyond \" \\ \/ \n \t, numbers, true/false/null).
// Throws std::runtime_error with the offset on anything else.
#pragma once

#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace test_json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object } kind = Kind::Null;
  bool boolean = false;
  double number = 0.0;
  std::string string;
  std::vector<Value> array;
  std::map<std::string, Value> object;

  bool is_null() const { return kind == Kind::Null; }
  const Value& operator[](const std::string& key) const {
    auto it = object.find(key);
    if (kind != Kind::Object || it == object.end()) throw std::runtime_error("json: no key '" + key + "'");
    return it->second;
  }
  bool has(const std::string& key) const { return kind == Kind::Object && object.count(key) > 0; }
  double num() const {
    if (kind != Kind::Number) throw std::runtime_error("json: expected a number");
    return number;
  }
  long long integer() const { return static_cast<long long>(num()); }
};

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}
  Value parse() {
    Value v = value();
    skip();
    if (i_ != s_.size()) fail("end of input");
    return v;
  }

 private:
  [[noreturn]] void fail(const char* expected) const {
    throw std::runtime_error("json: at offset " + std::to_string(i_) + ": expected " + expected);
  }
  void skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(char c) {
    skip();
    if (i_ < s_.size() && s_[i_] == c) { ++i_; return true; }
    return false;
  }
  std::string str() {
    if (!eat('"')) fail("'\"'");
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c == '\\') {
        if (i_ >= s_.size()) fail("an escape");
        const char e = s_[i_++];
        c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
        if (e != '"' && e != '\\' && e != '/' && e != 'n' && e != 't') fail("a simple escape");
      }
      out += c;
    }
    if (!eat('"')) fail("closing '\"'");
    return out;
  }
  Value value() {
    skip();
    Value v;
    if (i_ >= s_.size()) fail("a value");
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.kind = Value::Kind::Object;
      if (eat('}')) return v;
      do {
        std::string key = str();
        if (!eat(':')) fail("':'");
        v.object[key] = value();
      } while (eat(','));
      if (!eat('}')) fail("'}'");
    } else if (c == '[') {
      ++i_;
      v.kind = Value::Kind::Array;
      if (eat(']')) return v;
      do v.array.push_back(value()); while (eat(','));
      if (!eat(']')) fail("']'");
    } else if (c == '"') {
      v.kind = Value::Kind::String;
      v.string = str();
    } else if (s_.compare(i_, 4, "true") == 0) {
      i_ += 4; v.kind = Value::Kind::Bool; v.boolean = true;
    } else if (s_.compare(i_, 5, "false") == 0) {
      i_ += 5; v.kind = Value::Kind::Bool;
    } else if (s_.compare(i_, 4, "null") == 0) {
      i_ += 4;
    } else {
      char* end = nullptr;
      v.number = std::strtod(s_.c_str() + i_, &end);
      if (end == s_.c_str() + i_) fail("a number");
      v.kind = Value::Kind::Number;
      i_ = static_cast<std::size_t>(end - s_.c_str());
    }
    return v;
  }

  const std::string& s_;
  std::size_t i_ = 0;
};

inline Value parse(const std::string& text) { return Parser(text).parse(); }

}  // namespace test_json
