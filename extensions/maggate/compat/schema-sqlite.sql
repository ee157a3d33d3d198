-- The compatibility schema on SQLite (tests/common, the postgrest-js check).
CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT NOT NULL, done BOOLEAN NOT NULL DEFAULT 0,
                    priority INTEGER, score REAL, tags JSON, data BLOB);
CREATE TABLE "weird ""name""" ("id" INTEGER PRIMARY KEY, "due date" TEXT, "a""b" INTEGER, "x,y" TEXT);
CREATE TABLE notes (body TEXT);
