-- Rows both dialects accept as written.
INSERT INTO todos (title, done, priority, score, tags) VALUES ('buy milk', false, 1, 1.5, '["home"]');
INSERT INTO todos (title, done, priority, score, tags) VALUES ('Walk dog', true, NULL, 2.5, NULL);
INSERT INTO todos (title, done, priority, score, tags) VALUES ('write code', false, 3, NULL, '{"lang":"rust"}');
INSERT INTO todos (title, done, priority, score, tags) VALUES ('read 50% off', true, 2, 0.5, NULL);
INSERT INTO todos (title, done, priority, score, tags) VALUES ('it''s; DROP', false, NULL, NULL, NULL);
INSERT INTO "weird ""name""" ("due date", "a""b", "x,y") VALUES ('2024-01-01', 7, 'p');
INSERT INTO "weird ""name""" ("due date", "a""b", "x,y") VALUES (NULL, 8, 'q');
INSERT INTO notes (body) VALUES ('first');
