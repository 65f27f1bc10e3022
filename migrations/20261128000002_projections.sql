-- Which version of each projection's schema and code built its current tables. A projector whose
-- code has another version rebuilds its read model from position 0 before it follows the log.
CREATE TABLE projections (
    name       text        PRIMARY KEY,
    version    integer     NOT NULL,
    rebuilt_at timestamptz NOT NULL DEFAULT now()
);
