-- The users service's copy of the settings it uses (token lifetimes), fed
-- by `config.setting.changed` events. `version` is the config service's:
-- an older value arriving late is ignored.
CREATE TABLE users_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    updated_at TEXT NOT NULL
);
