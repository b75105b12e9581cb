/*
 * Calls that are easy to get wrong, made compile errors (git's banned.h):
 * sprintf, strcpy and strcat do not bound what they write (snprintf does),
 * strtok keeps hidden state across calls and threads (strtok_r), gmtime and
 * localtime return a shared buffer (the _r forms).  Every .c file of vigil
 * includes this header last, after every system header, so it never
 * rewrites a declaration; `make check` makes sure none forgets it.
 */
#ifndef VIGIL_UTIL_BANNED_H
#define VIGIL_UTIL_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gmtime
#define gmtime(t) BANNED(gmtime)
#undef localtime
#define localtime(t) BANNED(localtime)

#endif
