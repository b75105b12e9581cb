/* Dotted-path reads of a JSON text with jansson; see jread.h. */
#include "util/jread.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/banned.h"

int jread_scalar(const char *text, size_t len, const char *path, char *out, size_t size)
{
	char part[128];
	json_t *root, *v;
	int ret = -ENOENT;

	if (!text || !len)
		return -EINVAL;
	root = json_loadb(text, len, 0, NULL);
	if (!root)
		return -EINVAL;
	v = root;
	while (v && *path) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof(part)) {
			v = NULL;
			break;
		}
		memcpy(part, path, n);
		part[n] = '\0';
		path += n + (path[n] == '.');
		if (json_is_array(v) && n > 0 && isdigit((unsigned char)part[0]))
			v = json_array_get(v, strtoul(part, NULL, 10));
		else if (json_is_object(v))
			v = json_object_get(v, part);
		else
			v = NULL;
	}
	if (json_is_integer(v)) {
		snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		ret = 0;
	} else if (json_is_string(v) && json_string_length(v) > 0) {
		snprintf(out, size, "%s", json_string_value(v));
		ret = 0;
	}
	json_decref(root);
	return ret;
}
