-- A database as roundhouse-central schema version 1 left it (before migration 2 added
-- hardware_id, metadata and the desired/actual placement columns), with one controller and
-- its train. Used by test_central_misc.py to check the in-place upgrade.
CREATE TABLE schema_migrations ( version INTEGER PRIMARY KEY NOT NULL, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')));
CREATE TABLE controllers ( id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, description TEXT, address TEXT, enabled INTEGER NOT NULL DEFAULT 1, first_seen INTEGER, last_seen INTEGER, config_hash TEXT, version TEXT, platform TEXT, memory_mb INTEGER, cpu_count INTEGER, config_version INTEGER NOT NULL DEFAULT 1, applied_config_version INTEGER, session_epoch INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE trains ( id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, description TEXT, model TEXT, plugin_name TEXT NOT NULL, plugin_config TEXT NOT NULL DEFAULT '{}', invert_directions INTEGER NOT NULL DEFAULT 0, desired_controller_id TEXT REFERENCES controllers(id) ON DELETE SET NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE train_status ( train_id TEXT PRIMARY KEY NOT NULL, speed INTEGER NOT NULL DEFAULT 0, direction TEXT, target_speed INTEGER, state TEXT, voltage REAL, current REAL, position TEXT, controller_id TEXT, reported_at TEXT, updated_at INTEGER NOT NULL);
CREATE TABLE plugins ( name TEXT PRIMARY KEY NOT NULL, description TEXT, config TEXT NOT NULL DEFAULT '{}');
INSERT INTO schema_migrations(version, applied_at) VALUES (1, '2026-11-01T10:00:00Z');
INSERT INTO controllers(id, name, address, enabled, first_seen, last_seen, config_version, session_epoch, created_at, updated_at)
  VALUES ('0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e', 'pi-old', '10.8.0.9', 1, 1793527200, 1793527200, 3, 2, 1793527200, 1793527200);
INSERT INTO trains(id, name, plugin_name, plugin_config, invert_directions, desired_controller_id, created_at, updated_at)
  VALUES ('t-old', 'Old timer', 'dc_motor_hat', '{"motor_port":1}', 0, '0b7e6a2e-8c3a-4e2a-9c1a-2f8e4b7e6a2e', 1793527200, 1793527200);
