#include <cstring>
#include <string>

#include "check.h"
#include "sorter/labels.h"

using namespace sorter;

namespace {

size_t parse(const std::string& json, const char** labels, size_t max = 8, size_t storage = 256) {
  static char buf[1024];
  return parse_labels_json(json.data(), json.size(), buf, storage, labels, max);
}

}  // namespace

TEST(labels_from_plastisort_metadata) {
  // The shape JSON.stringify gives PlastisortMetadata: labels after other keys, nested values.
  const std::string json =
      "{\"schema\":\"plastisort.model/1\",\"floatScaling\":{\"scale\":0.00784,\"offset\":-1},"
      "\"tags\":[[1,2],{\"a\":\"]\"}],\"labels\":[\"PET\",\"HDPE\",\"PVC\"],\"inputSize\":96}";
  const char* labels[8];
  CHECK_EQ(parse(json, labels), 3u);
  CHECK(std::strcmp(labels[0], "PET") == 0);
  CHECK(std::strcmp(labels[1], "HDPE") == 0);
  CHECK(std::strcmp(labels[2], "PVC") == 0);
}

TEST(labels_escapes_decode_to_utf8) {
  const std::string json = "{ \"labels\" : [ \"a\\\"b\\\\c\", \"\\u00dcn\\u00efcode\", \"\\ud83d\\ude00\", \"x\\/y\\n\" ] }";
  const char* labels[8];
  CHECK_EQ(parse(json, labels), 4u);
  CHECK(std::strcmp(labels[0], "a\"b\\c") == 0);
  CHECK(std::strcmp(labels[1], "\xc3\x9c" "n\xc3\xaf" "code") == 0);
  CHECK(std::strcmp(labels[2], "\xf0\x9f\x98\x80") == 0);
  CHECK(std::strcmp(labels[3], "x/y\n") == 0);
}

TEST(labels_malformed_or_too_big_give_zero) {
  const char* labels[8];
  const char* bad[] = {"", "[]", "{}", "{\"labels\":[]}", "{\"labels\":[\"a\",]}", "{\"labels\":[\"a\"",
                       "{\"labels\":\"a\"}", "{\"labels\":[1,2]}", "{\"labels\":[\"\\ud83d\"]}",
                       "{\"labels\":[\"\\q\"]}", "{\"other\":[\"a\"]}", "{\"x\":\"unterminated"};
  for (const char* b : bad) CHECK_EQ(parse(b, labels), 0u);
  CHECK_EQ(parse("{\"labels\":[\"a\",\"b\",\"c\"]}", labels, 2), 0u);          // more than max_labels
  CHECK_EQ(parse("{\"labels\":[\"abcdef\",\"ghijkl\"]}", labels, 8, 10), 0u);  // storage too small
  CHECK_EQ(parse("{\"labels\":[\"abcdef\",\"ghijk\"]}", labels, 8, 13), 2u);   // exactly fits
  // Cut anywhere before the end of the labels array, a document never parses (and is never read
  // past its length); the parser stops at the array's closing bracket.
  const std::string ok = "{\"labels\":[\"PET\",\"HDPE\"]}";
  for (size_t n = 0; n < ok.find(']') + 1; ++n) {
    char buf[64];
    CHECK_OR_BREAK(parse_labels_json(ok.data(), n, buf, sizeof buf, labels, 8) == 0);
  }
}
