// Text that cannot become a spec: bytes that are not UTF-8 and NUL characters, in every
// format a config comes in (YAML, TOML, JSON, PM2 ecosystem files, env_file) and in the
// canonical JSON the CLI builds from its arguments. Each is an error that says where, and
// no message is cut short by a NUL.

#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "config/pm2.hpp"
#include "temp_dir.hpp"

namespace tend {
namespace {

using tend::testing::TempDir;
using namespace std::string_literals;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Every error of loading `text` as the file `name` (as `tend start` does), one per line.
std::string loadErrors(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.write(name, text);
  auto loaded = loadConfigOrEcosystem(path);
  if (loaded) return "";
  std::string out;
  for (const auto& e : loaded.error()) out += e.format() + "\n";
  return out;
}

TEST(ConfigText, BytesThatAreNotUtf8AreAnErrorAtTheirPositionInEveryFormat) {
  TempDir dir;
  const std::string yaml =
      loadErrors(dir, "tend.yaml", "apps:\n  - name: a\n    run: \"echo \xff\"\n");
  EXPECT_TRUE(contains(yaml, "/tend.yaml:3:16: byte 0xFF is not UTF-8")) << yaml;
  const std::string toml =
      loadErrors(dir, "tend.toml", "[[apps]]\nname = \"a\"\nrun = \"echo \xfe\"\n");
  EXPECT_TRUE(contains(toml, "/tend.toml:3:13: byte 0xFE is not UTF-8")) << toml;
  const std::string json =
      loadErrors(dir, "tend.json", "{\"apps\": [{\"name\": \"a\",\n \"cwd\": \"/srv/\xc3\"}]}");
  EXPECT_TRUE(contains(json, "/tend.json:2:15: byte 0xC3 is not UTF-8")) << json;
  // Valid UTF-8 of every length is fine.
  EXPECT_EQ(loadErrors(dir, "ok.yaml", "apps:\n  - name: a\n    run: \"echo é € 😀\"\n"), "");
}

TEST(ConfigText, APm2EcosystemFileIsCheckedTheSameWay) {
  TempDir dir;
  const std::string json = loadErrors(dir, "ecosystem.json",
                                      "{\"apps\": [{\"name\": \"a\", \"script\": \"x\xff.js\"}]}");
  EXPECT_TRUE(contains(json, "/ecosystem.json:1:37: byte 0xFF is not UTF-8")) << json;
  const std::string yaml = loadErrors(
      dir, "ecosystem.config.yaml", "apps:\n  - name: a\n    script: ./a.js\n    args: \"\xff\"\n");
  EXPECT_TRUE(contains(yaml, "/ecosystem.config.yaml:4:12: byte 0xFF is not UTF-8")) << yaml;
  // node would read the byte as U+FFFD and the app would get another text than the file's.
  const std::string js =
      loadErrors(dir, "ecosystem.config.js",
                 "module.exports = {\n  apps: [{ name: 'a', script: 'x\xff.js' }] };\n");
  EXPECT_TRUE(contains(js, "/ecosystem.config.js:2:33: byte 0xFF is not UTF-8")) << js;
}

TEST(ConfigText, ANulByteInTheFileIsAnError) {
  TempDir dir;
  const std::string yaml = loadErrors(dir, "tend.yaml", "apps:\n  - name: a\n    run: x\0y\n"s);
  EXPECT_TRUE(contains(yaml, "/tend.yaml:3:11: a NUL byte")) << yaml;
}

TEST(ConfigText, ANulWrittenAsAnEscapeIsAnErrorNamingTheKeyAndNotCuttingTheMessage) {
  TempDir dir;
  // YAML "\0", JSON and TOML "\u0000": valid syntax, but no environment can carry it.
  const std::string yaml = loadErrors(
      dir, "tend.yaml", "apps:\n  - name: a\n    run: x\n    env:\n      \"A\\0B\": x\n");
  EXPECT_TRUE(contains(yaml,
                       "/tend.yaml:5:7: apps[0].env.A\\0B: the key holds a NUL character (\\0), "
                       "which no command, path or environment variable can carry"))
      << yaml;
  const std::string json =
      loadErrors(dir, "tend.json", R"({"apps": [{"name": "a", "run": ["x", "a\u0000b"]}]})");
  EXPECT_TRUE(contains(json, "/tend.json:1:38: apps[0].run[1]: the value holds a NUL character"))
      << json;
  const std::string toml = loadErrors(
      dir, "tend.toml", "[[apps]]\nname = \"a\"\nrun = \"x\"\nenv = { K = \"a\\u0000\" }\n");
  EXPECT_TRUE(contains(toml, "/tend.toml:4:13: apps[0].env.K: the value holds a NUL character"))
      << toml;
  const std::string pm2 =
      loadErrors(dir, "ecosystem.json",
                 R"({"apps": [{"name": "a", "script": "./a.js", "env": {"K": "a\u0000b"}}]})");
  EXPECT_TRUE(contains(pm2, "apps[0].env.K: the value holds a NUL character")) << pm2;
}

TEST(ConfigText, AnEnvFileWithBytesThatAreNotUtf8OrANulNamesTheLineAndColumn) {
  TempDir dir;
  dir.write(".env", "GOOD=1\nBAD=x\xffy\nNUL=a\0b\n"s);
  const std::string errors =
      loadErrors(dir, "tend.yaml", "apps:\n  - name: a\n    run: x\n    env_file: .env\n");
  const std::string file = dir.path() + "/.env";
  EXPECT_TRUE(contains(errors, file + ":2:6: this line is not valid UTF-8 (byte 0xFF after "
                                      "'BAD=x')"))
      << errors;
  EXPECT_TRUE(contains(errors, file + ":3:6: this line holds a NUL character (\\0)")) << errors;
}

TEST(ConfigText, TheCanonicalJsonOfTheCliIsCheckedToo) {
  // What `tend start` builds from its arguments and the current directory.
  nlohmann::json entry{{"name", "a"}, {"run", "x"}, {"cwd", "/tmp/d\xff"}};
  auto spec = validateApp(fromJson(entry), "", "/");
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().at(0).format(),
            "cwd: the value is not valid UTF-8 (byte 0xFF after '/tmp/d'); tend reads configs, "
            "commands and environments as UTF-8 text");
}

TEST(ConfigText, AConfigInAFolderWhoseNameIsNotUtf8IsAnError) {
  // Its folder becomes the apps' cwd (and every relative path).
  auto root = parseConfigText("apps:\n  - name: a\n    run: x\n", ConfigFormat::Yaml, "tend.yaml");
  ASSERT_TRUE(root);
  auto config = validateConfig(*root, "tend.yaml", "/srv/caf\xe9");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().at(0).format(),
            "tend.yaml: the folder '/srv/caf\\xE9' (relative paths resolve against it) is not "
            "valid UTF-8 (byte 0xE9 after '/srv/caf'); tend reads configs, commands and "
            "environments as UTF-8 text");
}

TEST(ConfigText, AnErrorMessageShowsControlCharactersInsteadOfPassingThemOn) {
  ConfigError e{"tend.yaml", Mark{1, 2}, "key 'a\0b\x1b[2J' is \xff"s};
  EXPECT_EQ(e.format(), "tend.yaml:1:2: key 'a\\0b\\x1B[2J' is \\xFF");
}

}  // namespace
}  // namespace tend
