/*
 * Reading one value out of a JSON answer (a ticket system's reply) by a
 * dotted path, with jansson kept out of the files that write JSON with
 * util/json.h (the two libraries share function names).
 */
#ifndef VIGIL_UTIL_JREAD_H
#define VIGIL_UTIL_JREAD_H

#include <stddef.h>

/*
 * Finds the value at path in the JSON text: names of object members and
 * array indexes separated by dots ("id", "issue.id", "data.0.2",
 * "tickets.0").  A string or integer is copied into out (NUL-terminated).
 * Returns 0, -ENOENT when the path leads nowhere or to another type, or
 * -EINVAL when the text is not JSON.
 */
int jread_scalar(const char *text, size_t len, const char *path, char *out, size_t size);

#endif
