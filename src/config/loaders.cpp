// Reading YAML, TOML and JSON text into ConfigNode trees with the position of every key
// and value. Library exceptions are caught here and become ConfigErrors.

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <toml++/toml.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <tuple>

#include "common/files.hpp"
#include "common/paths.hpp"
#include "common/text.hpp"
#include "common/unique_fd.hpp"
#include "config/config.hpp"

namespace tend {
namespace {

// Bounds on what a config may be, so a hostile or broken file cannot exhaust memory or
// the stack (YAML aliases can multiply a small file into a huge tree).
constexpr size_t kMaxFileBytes = 4u << 20;
constexpr size_t kMaxNodes = 200'000;
constexpr size_t kMaxDepth = 64;

const char* kindWord(ConfigNode::Kind kind) {
  switch (kind) {
    case ConfigNode::Kind::Null:
      return "nothing";
    case ConfigNode::Kind::Scalar:
      return "a scalar";
    case ConfigNode::Kind::Map:
      return "a map";
    case ConfigNode::Kind::Seq:
      return "a list";
  }
  return "?";
}

size_t countNodes(const ConfigNode& node) {
  size_t n = 1;
  for (const auto& entry : node.map) n += countNodes(entry.value);
  for (const auto& item : node.seq) n += countNodes(item);
  return n;
}

std::string lineText(int line) {
  return line > 0 ? fmt::format(" (first at line {})", line) : "";
}

// ---------------------------------------------------------------------------------------
// YAML: yaml-cpp's event parser, so that every key keeps its position, duplicate keys are
// seen (yaml-cpp's node API keeps only one), and aliases are copied under a size limit.

struct YamlAbort {
  Mark mark;
  std::string message;
};

class YamlTreeBuilder final : public YAML::EventHandler {
 public:
  explicit YamlTreeBuilder(ConfigErrors& errors, const std::string& file)
      : errors_(errors), file_(file) {}

  bool done() const { return root_.has_value(); }
  ConfigNode takeRoot() { return std::move(*root_); }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    ConfigNode node;
    node.mark = toMark(mark);
    complete(std::move(node), anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end())
      throw YamlAbort{toMark(mark), "an alias refers to a node that contains it"};
    nodes_ += countNodes(it->second);
    checkSize(toMark(mark));
    ConfigNode copy = it->second;
    copy.mark = toMark(mark);
    complete(std::move(copy), 0);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    ConfigNode node;
    node.kind = ConfigNode::Kind::Scalar;
    node.mark = toMark(mark);
    node.scalar = value;
    // yaml-cpp passes on bytes that are not UTF-8 (and makes lone surrogates of escapes);
    // TOML and JSON refuse them, and an app's canonical JSON could not hold them.
    if (size_t bad = invalidUtf8At(value); bad != std::string::npos)
      errors_.push_back({file_, node.mark,
                         fmt::format("not valid UTF-8 (byte 0x{:02X} at offset {} of the text)",
                                     static_cast<unsigned char>(value[bad]), bad)});
    // yaml-cpp tags a quoted scalar "!" and a plain one "?"; "!!str" also forces a string.
    node.quoted = tag == "!" || tag == "tag:yaml.org,2002:str";
    complete(std::move(node), anchor);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(ConfigNode::Kind::Seq, toMark(mark), anchor);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(ConfigNode::Kind::Map, toMark(mark), anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    ConfigNode node;
    YAML::anchor_t anchor = 0;
    bool have_key = false;
    bool key_valid = false;
    std::string key;
    Mark key_mark;
    bool key_is_merge = false;
    std::vector<ConfigNode> merges;  // values of "<<" keys, applied when the map closes
  };

  static Mark toMark(const YAML::Mark& m) {
    if (m.is_null()) return Mark{};
    return Mark{m.line + 1, m.column + 1};
  }

  void checkSize(Mark mark) {
    if (nodes_ > kMaxNodes)
      throw YamlAbort{mark,
                      fmt::format("the document is too large (more than {} values)", kMaxNodes)};
  }

  void open(ConfigNode::Kind kind, Mark mark, YAML::anchor_t anchor) {
    if (stack_.size() >= kMaxDepth)
      throw YamlAbort{mark, fmt::format("nesting deeper than {} levels", kMaxDepth)};
    Frame frame;
    frame.node.kind = kind;
    frame.node.mark = mark;
    frame.anchor = anchor;
    stack_.push_back(std::move(frame));
  }

  void close() {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    if (frame.node.kind == ConfigNode::Kind::Map) applyMerges(frame);
    complete(std::move(frame.node), frame.anchor);
  }

  // YAML merge keys: `<<: *defaults` (or a list of them) adds the entries the map does not
  // set itself; of several merged maps, the first one to set a key wins.
  void applyMerges(Frame& frame) {
    for (const ConfigNode& merged : frame.merges) {
      std::vector<const ConfigNode*> sources;
      if (merged.kind == ConfigNode::Kind::Seq) {
        for (const ConfigNode& item : merged.seq) sources.push_back(&item);
      } else {
        sources.push_back(&merged);
      }
      for (const ConfigNode* source : sources) {
        if (source->kind != ConfigNode::Kind::Map) {
          errors_.push_back({file_, source->mark,
                             fmt::format("a merge key (<<) takes a map or a list of maps, not {}",
                                         kindWord(source->kind))});
          continue;
        }
        for (const auto& entry : source->map)
          if (!frame.node.find(entry.key)) frame.node.map.push_back(entry);
      }
    }
    frame.merges.clear();
  }

  void complete(ConfigNode node, YAML::anchor_t anchor) {
    ++nodes_;
    checkSize(node.mark);
    if (anchor != 0) anchors_[anchor] = node;
    if (stack_.empty()) {
      if (!root_) root_ = std::move(node);
      return;
    }
    Frame& top = stack_.back();
    if (top.node.kind == ConfigNode::Kind::Seq) {
      top.node.seq.push_back(std::move(node));
      return;
    }
    if (!top.have_key) {
      top.have_key = true;
      top.key_mark = node.mark;
      top.key_valid = node.kind == ConfigNode::Kind::Scalar;
      top.key_is_merge = top.key_valid && !node.quoted && node.scalar == "<<";
      if (top.key_valid) {
        top.key = node.scalar;
      } else {
        errors_.push_back({file_, node.mark,
                           fmt::format("a key must be a plain word, not {}", kindWord(node.kind))});
      }
      return;
    }
    top.have_key = false;
    if (!top.key_valid) return;
    if (top.key_is_merge) {
      top.merges.push_back(std::move(node));
      return;
    }
    // An empty value ("key:" then a newline) is reported by yaml-cpp where the next token
    // starts; the key's own position is what a person wants to see.
    if (node.kind == ConfigNode::Kind::Null && node.mark.line > top.key_mark.line)
      node.mark = top.key_mark;
    for (const auto& entry : top.node.map) {
      if (entry.key == top.key) {
        errors_.push_back(
            {file_, top.key_mark,
             fmt::format("duplicate key '{}'{}", top.key, lineText(entry.key_mark.line))});
        return;
      }
    }
    top.node.map.push_back(ConfigNode::Entry{std::move(top.key), top.key_mark, std::move(node)});
    top.key.clear();
  }

  ConfigErrors& errors_;
  const std::string& file_;
  std::vector<Frame> stack_;
  std::optional<ConfigNode> root_;
  std::map<YAML::anchor_t, ConfigNode> anchors_;
  size_t nodes_ = 0;
};

// Records only where a further document starts.
class DocumentSpotter final : public YAML::EventHandler {
 public:
  Mark start;
  void OnDocumentStart(const YAML::Mark& mark) override {
    start = Mark{mark.line + 1, mark.column + 1};
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

std::expected<ConfigNode, ConfigErrors> parseYaml(const std::string& text,
                                                  const std::string& file) {
  ConfigErrors errors;
  std::optional<ConfigNode> root;
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    YamlTreeBuilder builder(errors, file);
    if (parser.HandleNextDocument(builder) && builder.done()) root = builder.takeRoot();
    DocumentSpotter spotter;
    if (parser.HandleNextDocument(spotter))
      errors.push_back({file, spotter.start,
                        "a config holds one YAML document; remove the second '---' section"});
  } catch (const YamlAbort& abort) {
    errors.push_back({file, abort.mark, abort.message});
  } catch (const YAML::Exception& e) {
    Mark mark;
    if (!e.mark.is_null()) mark = Mark{e.mark.line + 1, e.mark.column + 1};
    errors.push_back({file, mark, "YAML syntax error: " + e.msg});
  }
  if (!errors.empty()) return std::unexpected(std::move(errors));
  return root ? std::move(*root) : ConfigNode{};
}

// ---------------------------------------------------------------------------------------
// TOML: toml++ sorts table keys, so entries are put back into source order by position.

std::string tomlFloatText(double value) {
  std::string text = fmt::format("{}", value);
  // Keep a float recognisable as one ("2.0", not "2"), so integer fields reject it.
  if (text.find_first_of(".eEni") == std::string::npos) text += ".0";
  return text;
}

Mark tomlMark(const toml::source_region& region) {
  return Mark{static_cast<int>(region.begin.line), static_cast<int>(region.begin.column)};
}

ConfigNode fromToml(const toml::node& in, size_t depth) {
  ConfigNode node;
  node.mark = tomlMark(in.source());
  if (depth > kMaxDepth) {
    node.kind = ConfigNode::Kind::Null;
    return node;
  }
  if (const toml::table* table = in.as_table()) {
    node.kind = ConfigNode::Kind::Map;
    for (const auto& [key, value] : *table)
      node.map.push_back(ConfigNode::Entry{std::string(key.str()), tomlMark(key.source()),
                                           fromToml(value, depth + 1)});
    // The keys of a table differ, so this order is total (std::sort rather than
    // stable_sort, whose libstdc++ 12 code trips clang's -Wdeprecated-declarations).
    std::sort(node.map.begin(), node.map.end(), [](const auto& a, const auto& b) {
      return std::tie(a.key_mark.line, a.key_mark.column, a.key) <
             std::tie(b.key_mark.line, b.key_mark.column, b.key);
    });
    return node;
  }
  if (const toml::array* array = in.as_array()) {
    node.kind = ConfigNode::Kind::Seq;
    for (const toml::node& item : *array) node.seq.push_back(fromToml(item, depth + 1));
    return node;
  }
  node.kind = ConfigNode::Kind::Scalar;
  if (const auto* s = in.as_string()) {
    node.scalar = s->get();
    node.quoted = true;
  } else if (const auto* i = in.as_integer()) {
    node.scalar = std::to_string(i->get());
  } else if (const auto* f = in.as_floating_point()) {
    node.scalar = tomlFloatText(f->get());
  } else if (const auto* b = in.as_boolean()) {
    node.scalar = b->get() ? "true" : "false";
  } else {
    // Dates and times: kept as text, which no tend key accepts without complaint.
    std::ostringstream out;
    in.visit([&out](const auto& value) {
      if constexpr (toml::is_date<decltype(value)> || toml::is_time<decltype(value)> ||
                    toml::is_date_time<decltype(value)>)
        out << value;
    });
    node.scalar = out.str();
  }
  return node;
}

std::expected<ConfigNode, ConfigErrors> parseToml(const std::string& text,
                                                  const std::string& file) {
  auto syntaxError = [&file](const toml::parse_error& e) {
    return ConfigErrors{
        {file, tomlMark(e.source()), "TOML syntax error: " + std::string(e.description())}};
  };
#if TOML_EXCEPTIONS
  try {
    toml::table table = toml::parse(std::string_view(text), std::string_view(file));
    return fromToml(table, 0);
  } catch (const toml::parse_error& e) {
    return std::unexpected(syntaxError(e));
  }
#else
  toml::parse_result result = toml::parse(std::string_view(text), std::string_view(file));
  if (!result) return std::unexpected(syntaxError(result.error()));
  return fromToml(result.table(), 0);
#endif
}

// ---------------------------------------------------------------------------------------
// JSON: nlohmann/json judges the syntax (its messages are good); a small reader of our
// own then builds the tree, because nlohmann/json keeps no positions and drops duplicate
// keys silently.

// Columns count characters, not bytes, so UTF-8 text before an error does not shift it.
Mark markAtByte(const std::string& text, size_t byte) {
  Mark mark{1, 1};
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++mark.line;
      mark.column = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++mark.column;
    }
  }
  return mark;
}

class JsonTreeReader {
 public:
  JsonTreeReader(const std::string& text, const std::string& file, ConfigErrors& errors)
      : text_(text), file_(file), errors_(errors) {}

  std::optional<ConfigNode> read() {
    skipSpace();
    ConfigNode root;
    if (!value(root, 0)) return std::nullopt;
    skipSpace();
    if (pos_ != text_.size()) {
      fail("unexpected text after the JSON value");
      return std::nullopt;
    }
    return root;
  }

 private:
  bool fail(const std::string& message) {
    errors_.push_back({file_, mark(), "JSON syntax error: " + message});
    return false;
  }

  Mark mark() const { return Mark{line_, column_}; }
  bool atEnd() const { return pos_ >= text_.size(); }
  char peek() const { return atEnd() ? '\0' : text_[pos_]; }

  void advance() {
    const unsigned char c = static_cast<unsigned char>(text_[pos_++]);
    if (c == '\n') {
      ++line_;
      column_ = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++column_;
    }
  }

  void skipSpace() {
    while (!atEnd() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
      advance();
  }

  bool literal(std::string_view word) {
    if (text_.compare(pos_, word.size(), word) != 0) return false;
    for (size_t i = 0; i < word.size(); ++i) advance();
    return true;
  }

  bool value(ConfigNode& out, size_t depth) {
    if (depth > kMaxDepth) return fail(fmt::format("nesting deeper than {} levels", kMaxDepth));
    out.mark = mark();
    const char c = peek();
    if (c == '{') return object(out, depth);
    if (c == '[') return array(out, depth);
    if (c == '"') {
      out.kind = ConfigNode::Kind::Scalar;
      out.quoted = true;
      return string(out.scalar);
    }
    for (std::string_view word : {"true", "false"}) {
      if (literal(word)) {
        out.kind = ConfigNode::Kind::Scalar;
        out.scalar = word;
        return true;
      }
    }
    if (literal("null")) {
      out.kind = ConfigNode::Kind::Null;
      return true;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      const size_t start = pos_;
      while (!atEnd() && std::string_view("+-0123456789.eE").find(peek()) != std::string_view::npos)
        advance();
      out.kind = ConfigNode::Kind::Scalar;
      out.scalar = text_.substr(start, pos_ - start);
      return true;
    }
    return fail("expected a value");
  }

  bool object(ConfigNode& out, size_t depth) {
    out.kind = ConfigNode::Kind::Map;
    advance();  // {
    skipSpace();
    if (peek() == '}') {
      advance();
      return true;
    }
    while (true) {
      skipSpace();
      if (peek() != '"') return fail("expected a key in quotes");
      ConfigNode::Entry entry;
      entry.key_mark = mark();
      if (!string(entry.key)) return false;
      skipSpace();
      if (peek() != ':') return fail("expected ':' after a key");
      advance();
      skipSpace();
      if (!value(entry.value, depth + 1)) return false;
      const ConfigNode::Entry* first = nullptr;
      for (const auto& existing : out.map)
        if (existing.key == entry.key) first = &existing;
      if (first) {
        errors_.push_back(
            {file_, entry.key_mark,
             fmt::format("duplicate key '{}'{}", entry.key, lineText(first->key_mark.line))});
      } else {
        out.map.push_back(std::move(entry));
      }
      if (++nodes_ > kMaxNodes) return fail("the document is too large");
      skipSpace();
      if (peek() == ',') {
        advance();
        continue;
      }
      if (peek() == '}') {
        advance();
        return true;
      }
      return fail("expected ',' or '}'");
    }
  }

  bool array(ConfigNode& out, size_t depth) {
    out.kind = ConfigNode::Kind::Seq;
    advance();  // [
    skipSpace();
    if (peek() == ']') {
      advance();
      return true;
    }
    while (true) {
      skipSpace();
      ConfigNode item;
      if (!value(item, depth + 1)) return false;
      out.seq.push_back(std::move(item));
      if (++nodes_ > kMaxNodes) return fail("the document is too large");
      skipSpace();
      if (peek() == ',') {
        advance();
        continue;
      }
      if (peek() == ']') {
        advance();
        return true;
      }
      return fail("expected ',' or ']'");
    }
  }

  static void appendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool hex4(uint32_t& cp) {
    if (pos_ + 4 > text_.size()) return false;
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, value, 16);
    if (ec != std::errc() || ptr != text_.data() + pos_ + 4) return false;
    for (int i = 0; i < 4; ++i) advance();
    cp = value;
    return true;
  }

  bool string(std::string& out) {
    advance();  // opening quote
    while (true) {
      if (atEnd()) return fail("unterminated string");
      const char c = peek();
      if (c == '"') {
        advance();
        return true;
      }
      if (c != '\\') {
        out += c;
        advance();
        continue;
      }
      advance();
      const char e = peek();
      if (atEnd()) return fail("unterminated string");
      advance();
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(cp)) return fail("bad \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low = 0;
            if (!literal("\\u") || !hex4(low) || low < 0xDC00 || low > 0xDFFF)
              return fail("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          appendUtf8(out, cp);
          break;
        }
        default:
          return fail("bad escape");
      }
    }
  }

  const std::string& text_;
  const std::string& file_;
  ConfigErrors& errors_;
  size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
  size_t nodes_ = 0;
};

std::expected<ConfigNode, ConfigErrors> parseJson(const std::string& text,
                                                  const std::string& file) {
  try {
    [[maybe_unused]] const nlohmann::json checked = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    std::string message = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..."
    const size_t colon = message.find(": ");
    if (colon != std::string::npos) message = message.substr(colon + 2);
    // nlohmann counts the byte it stopped at; it reports "byte 0" for empty input.
    const size_t byte = e.byte > 0 ? e.byte - 1 : 0;
    return std::unexpected(
        ConfigErrors{{file, markAtByte(text, byte), "JSON syntax error: " + message}});
  }
  ConfigErrors errors;
  JsonTreeReader reader(text, file, errors);
  std::optional<ConfigNode> root = reader.read();
  if (!errors.empty() || !root) {
    if (errors.empty()) errors.push_back({file, Mark{}, "JSON syntax error"});
    return std::unexpected(std::move(errors));
  }
  return std::move(*root);
}

}  // namespace

std::optional<ConfigFormat> formatFromPath(const std::string& path) {
  const std::string ext = toLower(std::filesystem::path(path).extension().string());
  if (ext == ".yaml" || ext == ".yml") return ConfigFormat::Yaml;
  if (ext == ".toml") return ConfigFormat::Toml;
  if (ext == ".json") return ConfigFormat::Json;
  return std::nullopt;
}

std::optional<ConfigError> notUtf8Text(const std::string& text, const std::string& file_name) {
  const size_t nul = text.find('\0');
  const size_t bad = std::min(nul, invalidUtf8At(text));
  if (bad == std::string::npos) return std::nullopt;
  if (bad == nul)
    return ConfigError{file_name, markAtByte(text, bad),
                       "a NUL byte: a config must be text, without NUL bytes"};
  return ConfigError{file_name, markAtByte(text, bad),
                     fmt::format("byte 0x{:02X} is not UTF-8: a config must be UTF-8 text (save "
                                 "the file as UTF-8)",
                                 static_cast<unsigned char>(text[bad]))};
}

std::expected<ConfigNode, ConfigErrors> parseConfigText(const std::string& text,
                                                        ConfigFormat format,
                                                        const std::string& file_name) {
  if (auto error = notUtf8Text(text, file_name)) return std::unexpected(ConfigErrors{*error});
  try {
    switch (format) {
      case ConfigFormat::Yaml:
        return parseYaml(text, file_name);
      case ConfigFormat::Toml:
        return parseToml(text, file_name);
      case ConfigFormat::Json:
        return parseJson(text, file_name);
    }
    return std::unexpected(ConfigErrors{{file_name, Mark{}, "unknown config format"}});
  } catch (const std::exception& e) {
    return std::unexpected(
        ConfigErrors{{file_name, Mark{}, std::string("cannot parse the config: ") + e.what()}});
  }
}

std::expected<ConfigFile, ConfigErrors> loadConfigFile(const std::string& path) {
  try {
    const std::optional<ConfigFormat> format = formatFromPath(path);
    if (!format) {
      return std::unexpected(ConfigErrors{
          {path, Mark{},
           "cannot tell the config format from the file name: use .yaml, .yml, .toml or .json"}});
    }
    auto text = readFile(path, kMaxFileBytes);
    if (!text)
      return std::unexpected(
          ConfigErrors{{path, Mark{}, "cannot read the config: " + text.error()}});
    auto root = parseConfigText(*text, *format, path);
    if (!root) return std::unexpected(std::move(root.error()));
    const std::string base_dir = std::filesystem::path(absolutePath(path)).parent_path().string();
    return validateConfig(*root, path, base_dir);
  } catch (const std::exception& e) {
    return std::unexpected(
        ConfigErrors{{path, Mark{}, std::string("cannot load the config: ") + e.what()}});
  }
}

}  // namespace tend
