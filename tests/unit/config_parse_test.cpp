// Reading YAML, TOML and JSON into ConfigNode trees: positions, scalar kinds, duplicate
// keys and syntax errors, in all three formats.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "temp_dir.hpp"

namespace tend {
namespace {

ConfigNode parseOk(const std::string& text, ConfigFormat format) {
  auto parsed = parseConfigText(text, format, "test");
  EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error().front().format());
  return parsed ? *parsed : ConfigNode{};
}

ConfigError parseFails(const std::string& text, ConfigFormat format) {
  auto parsed = parseConfigText(text, format, "cfg");
  EXPECT_FALSE(parsed.has_value());
  if (parsed || parsed.error().empty()) return ConfigError{};
  return parsed.error().front();
}

const ConfigNode::Entry& entry(const ConfigNode& map, const std::string& key) {
  for (const auto& e : map.map)
    if (e.key == key) return e;
  ADD_FAILURE() << "no key " << key;
  static const ConfigNode::Entry kMissing{};
  return kMissing;
}

void expectMark(Mark mark, int line, int column) {
  EXPECT_EQ(mark.line, line);
  EXPECT_EQ(mark.column, column);
}

using tend::testing::TempDir;

// --- YAML --------------------------------------------------------------------------------

TEST(YamlParsing, RecordsOneBasedPositionsOfKeysAndValues) {
  const ConfigNode root = parseOk(
      "apps:\n"
      "  - name: api\n"
      "    run:   \"node x\"\n",
      ConfigFormat::Yaml);
  ASSERT_EQ(root.kind, ConfigNode::Kind::Map);
  const auto& apps = entry(root, "apps");
  expectMark(apps.key_mark, 1, 1);
  ASSERT_EQ(apps.value.kind, ConfigNode::Kind::Seq);
  expectMark(apps.value.mark, 2, 3);
  const ConfigNode& app = apps.value.seq.at(0);
  const auto& name = entry(app, "name");
  expectMark(name.key_mark, 2, 5);
  expectMark(name.value.mark, 2, 11);
  const auto& run = entry(app, "run");
  expectMark(run.key_mark, 3, 5);
  expectMark(run.value.mark, 3, 12);
}

TEST(YamlParsing, TellsQuotedStringsFromPlainScalars) {
  const ConfigNode root =
      parseOk("a: 42\nb: \"42\"\nc: '42'\nd: !!str 42\ne: true\n", ConfigFormat::Yaml);
  EXPECT_FALSE(entry(root, "a").value.quoted);
  EXPECT_TRUE(entry(root, "b").value.quoted);
  EXPECT_TRUE(entry(root, "c").value.quoted);
  EXPECT_TRUE(entry(root, "d").value.quoted);
  EXPECT_FALSE(entry(root, "e").value.quoted);
  EXPECT_EQ(entry(root, "e").value.scalar, "true");
}

TEST(YamlParsing, ReadsEmptyValuesAsNullAtTheKey) {
  const ConfigNode root = parseOk("a:\nb: ~\nc: null\nd: \"null\"\n", ConfigFormat::Yaml);
  EXPECT_EQ(entry(root, "a").value.kind, ConfigNode::Kind::Null);
  expectMark(entry(root, "a").value.mark, 1, 1);
  EXPECT_EQ(entry(root, "b").value.kind, ConfigNode::Kind::Null);
  EXPECT_EQ(entry(root, "c").value.kind, ConfigNode::Kind::Null);
  EXPECT_EQ(entry(root, "d").value.kind, ConfigNode::Kind::Scalar);
}

TEST(YamlParsing, KeepsKeysInSourceOrder) {
  const ConfigNode root = parseOk("zeta: 1\nalpha: 2\nmid: 3\n", ConfigFormat::Yaml);
  ASSERT_EQ(root.map.size(), 3u);
  EXPECT_EQ(root.map[0].key, "zeta");
  EXPECT_EQ(root.map[1].key, "alpha");
  EXPECT_EQ(root.map[2].key, "mid");
}

TEST(YamlParsing, ReportsADuplicateKeyWhereItRepeats) {
  const ConfigError e = parseFails("a: 1\nb: 2\na: 3\n", ConfigFormat::Yaml);
  EXPECT_EQ(e.format(), "cfg:3:1: duplicate key 'a' (first at line 1)");
}

TEST(YamlParsing, ReportsASyntaxErrorWithItsPosition) {
  const ConfigError e = parseFails("a: [1, 2\nb: 3\n", ConfigFormat::Yaml);
  EXPECT_EQ(e.file, "cfg");
  EXPECT_EQ(e.mark.line, 2);
  EXPECT_NE(e.message.find("YAML syntax error: end of sequence flow not found"), std::string::npos)
      << e.message;
}

TEST(YamlParsing, ReportsATabIndentationError) {
  const ConfigError e = parseFails("a:\n\tb: 1\n", ConfigFormat::Yaml);
  EXPECT_GT(e.mark.line, 0);
  EXPECT_NE(e.message.find("YAML syntax error"), std::string::npos);
}

TEST(YamlParsing, RefusesASecondDocument) {
  const ConfigError e = parseFails("a: 1\n---\nb: 2\n", ConfigFormat::Yaml);
  EXPECT_EQ(e.mark.line, 2);
  EXPECT_NE(e.message.find("one YAML document"), std::string::npos);
}

// Found by fuzz/config_load_fuzz: yaml-cpp passes bytes that are not UTF-8 through, and an
// app's canonical JSON holding them cannot be sent to the daemon (nlohmann refuses to print
// them), so `tend start` died of an exception. YAML text is Unicode; such a value is an
// error where it stands, as it is in TOML and JSON.
TEST(YamlParsing, RefusesTextThatIsNotUtf8WhereItStands) {
  ConfigError e = parseFails("apps:\n  - name: caf\xe9\n", ConfigFormat::Yaml);
  EXPECT_EQ(e.format(),
            "cfg:2:14: byte 0xE9 is not UTF-8: a config must be UTF-8 text (save the file as "
            "UTF-8)");
  e = parseFails("a: 1\n\xb5x: 2\n", ConfigFormat::Yaml);
  EXPECT_EQ(e.mark.line, 2);
  EXPECT_NE(e.message.find("byte 0xB5 is not UTF-8"), std::string::npos) << e.message;
  parseFails("a: \"\\ud800\"\n", ConfigFormat::Yaml);  // a lone surrogate (yaml-cpp's own error)
  EXPECT_EQ(entry(parseOk("a: \"caf\xc3\xa9 \\u00e9\"\n", ConfigFormat::Yaml), "a").value.scalar,
            "caf\xc3\xa9 \xc3\xa9");
}

TEST(YamlParsing, ReadsAnEmptyFileAsNull) {
  EXPECT_EQ(parseOk("", ConfigFormat::Yaml).kind, ConfigNode::Kind::Null);
  EXPECT_EQ(parseOk("# only a comment\n", ConfigFormat::Yaml).kind, ConfigNode::Kind::Null);
}

TEST(YamlParsing, CopiesAliasesAndAppliesMergeKeys) {
  const ConfigNode root = parseOk(
      "base: &base { a: 1, b: 2 }\n"
      "copy: *base\n"
      "merged:\n"
      "  <<: *base\n"
      "  b: 3\n",
      ConfigFormat::Yaml);
  const ConfigNode& copy = entry(root, "copy").value;
  ASSERT_EQ(copy.kind, ConfigNode::Kind::Map);
  EXPECT_EQ(copy.find("a")->scalar, "1");
  const ConfigNode& merged = entry(root, "merged").value;
  ASSERT_EQ(merged.map.size(), 2u);
  EXPECT_EQ(merged.find("a")->scalar, "1");
  EXPECT_EQ(merged.find("b")->scalar, "3");
}

TEST(YamlParsing, RefusesAMergeOfAScalar) {
  const ConfigError e = parseFails("a: &x 1\nb:\n  <<: *x\n", ConfigFormat::Yaml);
  EXPECT_NE(e.message.find("merge key"), std::string::npos) << e.message;
}

TEST(YamlParsing, RefusesAMapAsAKey) {
  const ConfigError e = parseFails("? {a: 1}\n: 2\n", ConfigFormat::Yaml);
  EXPECT_NE(e.message.find("a key must be a plain word"), std::string::npos) << e.message;
}

TEST(YamlParsing, StopsAnAliasExpansionBomb) {
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i)
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + std::string("*a") +
            std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
            std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
            std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
            std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
            std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + "]\n";
  const ConfigError e = parseFails(text, ConfigFormat::Yaml);
  EXPECT_NE(e.message.find("too large"), std::string::npos) << e.message;
}

TEST(YamlParsing, RefusesDeepNesting) {
  std::string text = "a: " + std::string(100, '[') + std::string(100, ']') + "\n";
  const ConfigError e = parseFails(text, ConfigFormat::Yaml);
  EXPECT_NE(e.message.find("nesting"), std::string::npos) << e.message;
}

// --- TOML --------------------------------------------------------------------------------

TEST(TomlParsing, RecordsPositionsAndKeepsSourceOrder) {
  const ConfigNode root = parseOk(
      "[gateway]\n"
      "listen = \"127.0.0.1:8080\"\n"
      "\n"
      "[[apps]]\n"
      "name = \"api\"\n"
      "instances = 2\n"
      "backoff = { multiplier = 1.5, initial = \"1s\" }\n",
      ConfigFormat::Toml);
  ASSERT_EQ(root.map.size(), 2u);
  EXPECT_EQ(root.map[0].key, "gateway");
  EXPECT_EQ(root.map[1].key, "apps");
  const ConfigNode& app = entry(root, "apps").value.seq.at(0);
  ASSERT_EQ(app.map.size(), 3u);
  EXPECT_EQ(app.map[0].key, "name");
  EXPECT_EQ(app.map[1].key, "instances");
  expectMark(app.map[1].key_mark, 6, 1);
  expectMark(app.map[1].value.mark, 6, 13);
  EXPECT_EQ(app.map[1].value.scalar, "2");
  EXPECT_FALSE(app.map[1].value.quoted);
  EXPECT_TRUE(app.map[0].value.quoted);
  const ConfigNode& backoff = app.map[2].value;
  EXPECT_EQ(backoff.map[0].key, "multiplier");
  EXPECT_EQ(backoff.map[0].value.scalar, "1.5");
  expectMark(backoff.map[1].key_mark, 7, 31);
}

TEST(TomlParsing, KeepsFloatsRecognisableAsFloats) {
  const ConfigNode root = parseOk("a = 2.0\nb = 1e3\nc = true\n", ConfigFormat::Toml);
  EXPECT_EQ(entry(root, "a").value.scalar, "2.0");
  EXPECT_NE(entry(root, "b").value.scalar.find_first_of(".e"), std::string::npos);
  EXPECT_EQ(entry(root, "c").value.scalar, "true");
}

TEST(TomlParsing, KeepsDatesAsText) {
  const ConfigNode root = parseOk("a = 1979-05-27\n", ConfigFormat::Toml);
  EXPECT_EQ(entry(root, "a").value.kind, ConfigNode::Kind::Scalar);
  EXPECT_EQ(entry(root, "a").value.scalar, "1979-05-27");
}

TEST(TomlParsing, ReportsADuplicateKeyWithItsPosition) {
  const ConfigError e = parseFails("a = 1\na = 2\n", ConfigFormat::Toml);
  EXPECT_EQ(e.mark.line, 2);
  EXPECT_NE(e.message.find("TOML syntax error"), std::string::npos);
}

TEST(TomlParsing, ReportsASyntaxErrorWithItsPosition) {
  const ConfigError e = parseFails("a = 1\nb = [1,\n", ConfigFormat::Toml);
  EXPECT_EQ(e.mark.line, 2);
  EXPECT_GT(e.mark.column, 0);
  EXPECT_NE(e.message.find("TOML syntax error"), std::string::npos);
}

// --- JSON --------------------------------------------------------------------------------

TEST(JsonParsing, RecordsPositionsOfKeysAndValues) {
  const ConfigNode root = parseOk(
      "{\n"
      "  \"apps\": [\n"
      "    {\"name\": \"api\", \"instances\": 2,\n"
      "     \"multiplier\": 1.50, \"t\": true, \"n\": null}\n"
      "  ]\n"
      "}\n",
      ConfigFormat::Json);
  const auto& apps = entry(root, "apps");
  expectMark(apps.key_mark, 2, 3);
  expectMark(apps.value.mark, 2, 11);
  const ConfigNode& app = apps.value.seq.at(0);
  expectMark(app.mark, 3, 5);
  expectMark(entry(app, "name").key_mark, 3, 6);
  expectMark(entry(app, "name").value.mark, 3, 14);
  expectMark(entry(app, "instances").value.mark, 3, 34);
  EXPECT_EQ(entry(app, "instances").value.scalar, "2");
  EXPECT_FALSE(entry(app, "instances").value.quoted);
  EXPECT_EQ(entry(app, "multiplier").value.scalar, "1.50");
  expectMark(entry(app, "multiplier").key_mark, 4, 6);
  EXPECT_EQ(entry(app, "t").value.scalar, "true");
  EXPECT_EQ(entry(app, "n").value.kind, ConfigNode::Kind::Null);
}

TEST(JsonParsing, KeepsKeysInSourceOrder) {
  const ConfigNode root = parseOk("{\"z\": 1, \"a\": 2}", ConfigFormat::Json);
  EXPECT_EQ(root.map[0].key, "z");
  EXPECT_EQ(root.map[1].key, "a");
}

TEST(JsonParsing, DecodesEscapes) {
  const ConfigNode root =
      parseOk(R"({"s": "a\"b\\c\/d\n\t\u00e9\ud83d\ude00"})", ConfigFormat::Json);
  EXPECT_EQ(entry(root, "s").value.scalar, "a\"b\\c/d\n\t\xC3\xA9\xF0\x9F\x98\x80");
}

TEST(JsonParsing, CountsColumnsInCharactersAfterUtf8) {
  const ConfigNode root = parseOk("{\"\xC3\xA9\xC3\xA9\": 1, \"b\": 2}", ConfigFormat::Json);
  expectMark(entry(root, "b").key_mark, 1, 11);
}

TEST(JsonParsing, ReportsADuplicateKeyWhereItRepeats) {
  const ConfigError e = parseFails("{\n  \"a\": 1,\n  \"a\": 2\n}", ConfigFormat::Json);
  EXPECT_EQ(e.format(), "cfg:3:3: duplicate key 'a' (first at line 2)");
}

TEST(JsonParsing, ReportsASyntaxErrorWithLineAndColumn) {
  const ConfigError e = parseFails("{\n  \"a\": 1,\n  \"b\" 2\n}", ConfigFormat::Json);
  expectMark(e.mark, 3, 7);
  EXPECT_NE(e.message.find("JSON syntax error"), std::string::npos) << e.message;
  EXPECT_EQ(e.message.find("[json.exception"), std::string::npos) << e.message;
}

TEST(JsonParsing, ReportsATrailingComma) {
  const ConfigError e = parseFails("{\"a\": [1, 2,]}", ConfigFormat::Json);
  expectMark(e.mark, 1, 13);
}

TEST(JsonParsing, ReportsEmptyInput) {
  const ConfigError e = parseFails("", ConfigFormat::Json);
  expectMark(e.mark, 1, 1);
}

TEST(JsonParsing, RefusesDeepNesting) {
  const ConfigError e =
      parseFails(std::string(100, '[') + std::string(100, ']'), ConfigFormat::Json);
  EXPECT_NE(e.message.find("nesting"), std::string::npos) << e.message;
}

// --- fromJson, find, errors, files -------------------------------------------------------

TEST(ConfigNodeFromJson, KeepsNumbersAndBooleansAsUnquotedText) {
  const nlohmann::json j = {{"i", 42},     {"u", 7u},      {"f", 2.0},     {"b", false},
                            {"s", "text"}, {"n", nullptr}, {"l", {1, "x"}}};
  const ConfigNode node = fromJson(j);
  ASSERT_EQ(node.kind, ConfigNode::Kind::Map);
  EXPECT_EQ(node.find("i")->scalar, "42");
  EXPECT_FALSE(node.find("i")->quoted);
  EXPECT_EQ(node.find("u")->scalar, "7");
  EXPECT_EQ(node.find("f")->scalar, "2.0");
  EXPECT_EQ(node.find("b")->scalar, "false");
  EXPECT_EQ(node.find("s")->scalar, "text");
  EXPECT_TRUE(node.find("s")->quoted);
  EXPECT_EQ(node.find("n")->kind, ConfigNode::Kind::Null);
  ASSERT_EQ(node.find("l")->kind, ConfigNode::Kind::Seq);
  EXPECT_EQ(node.find("l")->seq[1].scalar, "x");
  EXPECT_EQ(node.find("i")->mark.line, 0);
}

TEST(ConfigNodeFind, ReturnsNullForAMissingKeyOrANonMap) {
  const ConfigNode node = fromJson(nlohmann::json{{"a", 1}});
  EXPECT_NE(node.find("a"), nullptr);
  EXPECT_EQ(node.find("b"), nullptr);
  EXPECT_EQ(node.find("a")->find("a"), nullptr);
}

TEST(ConfigErrorFormat, LeavesOutWhatIsUnknown) {
  EXPECT_EQ((ConfigError{"tend.yaml", {12, 5}, "bad"}).format(), "tend.yaml:12:5: bad");
  EXPECT_EQ((ConfigError{"tend.yaml", {12, 0}, "bad"}).format(), "tend.yaml:12: bad");
  EXPECT_EQ((ConfigError{"tend.yaml", {}, "bad"}).format(), "tend.yaml: bad");
  EXPECT_EQ((ConfigError{"", {3, 4}, "bad"}).format(), "3:4: bad");
  EXPECT_EQ((ConfigError{"", {}, "bad"}).format(), "bad");
}

TEST(FormatFromPath, KnowsTheThreeFormatsByExtension) {
  EXPECT_EQ(formatFromPath("a/tend.yaml"), ConfigFormat::Yaml);
  EXPECT_EQ(formatFromPath("tend.YML"), ConfigFormat::Yaml);
  EXPECT_EQ(formatFromPath("tend.toml"), ConfigFormat::Toml);
  EXPECT_EQ(formatFromPath("tend.json"), ConfigFormat::Json);
  EXPECT_EQ(formatFromPath("tend.conf"), std::nullopt);
  EXPECT_EQ(formatFromPath("tend"), std::nullopt);
}

TEST(LoadConfigFile, ReportsAMissingFile) {
  TempDir dir;
  auto loaded = loadConfigFile(dir.path() + "/nope.yaml");
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().front().format(),
            dir.path() + "/nope.yaml: cannot read the config: No such file or directory");
}

TEST(LoadConfigFile, ReportsADirectory) {
  TempDir dir;
  std::filesystem::create_directory(dir.path() + "/d.yaml");
  auto loaded = loadConfigFile(dir.path() + "/d.yaml");
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().front().message.find("directory"), std::string::npos);
}

TEST(LoadConfigFile, NamesTheSupportedExtensionsForAnUnknownOne) {
  TempDir dir;
  const std::string path = dir.write("tend.conf", "apps: []\n");
  auto loaded = loadConfigFile(path);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().front().message.find(".yaml, .yml, .toml or .json"), std::string::npos);
}

TEST(LoadConfigFile, ResolvesPathsAgainstTheFilesDirectory) {
  TempDir dir;
  std::filesystem::create_directory(dir.path() + "/sub");
  const std::string path =
      dir.write("sub/tend.toml", "[[apps]]\nname = \"a\"\nrun = \"true\"\ncwd = \"work\"\n");
  auto loaded = loadConfigFile(path);
  ASSERT_TRUE(loaded) << loaded.error().front().format();
  EXPECT_EQ(loaded->path, path);
  EXPECT_EQ(loaded->apps.at(0).cwd, dir.path() + "/sub/work");
}

TEST(LoadConfigFile, ReportsSyntaxErrorsWithTheFileName) {
  TempDir dir;
  const std::string path = dir.write("tend.json", "{\"apps\": [}");
  auto loaded = loadConfigFile(path);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().front().file, path);
  EXPECT_EQ(loaded.error().front().mark.line, 1);
}

}  // namespace
}  // namespace tend
