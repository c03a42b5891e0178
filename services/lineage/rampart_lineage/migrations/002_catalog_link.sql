-- The catalog table (quality service) a vertex names, when discovery has found it.
ALTER TABLE vertices ADD COLUMN catalog_table_id uuid;
