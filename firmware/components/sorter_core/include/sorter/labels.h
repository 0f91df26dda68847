// Class labels from the model itself: the quantizer stores them in the .tflite metadata entry
// "plastisort" as JSON ({"labels":["PET",...],...}). A model flashed into the model partition may
// have other classes than the built-in one, so the device reads them from the model it runs.
#pragma once

#include <cstddef>

namespace sorter {

// Parses the "labels" array of strings from a JSON object. Labels are copied, NUL-terminated, into
// storage; labels[i] points into it. Returns the number of labels, or 0 when the JSON has no
// well-formed "labels" array of strings, there are more than max_labels, or storage is too small.
// Handles the escapes JSON.stringify writes (\" \\ \/ \b \f \n \r \t \uXXXX incl. surrogate pairs).
size_t parse_labels_json(const char* json, size_t len, char* storage, size_t storage_len, const char** labels,
                         size_t max_labels);

// Copies the string value of top-level key `key` into out (NUL-terminated, JSON escapes decoded).
// False when the key is absent, its value is not a string, or it does not fit.
bool parse_json_string_field(const char* json, size_t len, const char* key, char* out, size_t out_len);

}  // namespace sorter
