/* The catalog's schema migrations, compiled into the binary from
 * catalog/migrations by tools/sql2c. */
#ifndef VIGIL_CATALOG_MIGRATIONS_H
#define VIGIL_CATALOG_MIGRATIONS_H

#include "util/db.h"

extern const struct db_migration catalog_migrations[];
extern const int catalog_migrations_count;

#endif
