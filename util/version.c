#include "util/version.h"

#include "util/banned.h"

#ifndef VIGIL_VERSION
#error "VIGIL_VERSION is set by the Makefile for this file alone"
#endif

const char *const vigil_version = VIGIL_VERSION;
const char *const vigil_user_agent = "vigil/" VIGIL_VERSION;
