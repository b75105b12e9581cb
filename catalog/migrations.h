/* The schema migrations compiled into the binary by tools/sql2c. */
#ifndef VIGIL_CATALOG_MIGRATIONS_H
#define VIGIL_CATALOG_MIGRATIONS_H

struct catalog_migration {
	int version; /* the schema version after this migration */
	const char *name;
	const char *sql;
};

extern const struct catalog_migration catalog_migrations[];
extern const int catalog_migrations_count;
/* the ticket database's, from tickets/migrations */
extern const struct catalog_migration ticket_migrations[];
extern const int ticket_migrations_count;

#endif
