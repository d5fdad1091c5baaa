-- How fast could PostgreSQL itself convert contract rows? (bench/RESULTS.md, "Why the PostgreSQL
-- target is out of reach on this machine"). Times the raw COPY the load benchmark compares with,
-- a COPY into an all-text staging table, and INSERT ... SELECT into a table of rxtrace's row
-- shape: with casts only, then with the two keyed hashes (pgcrypto) and a SHA-256 row digest.
-- It checks nothing and sets nothing aside: a lower bound for a conversion done in SQL.
--
--   createdb -h 127.0.0.1 -U postgres sqlexp
--   psql -h 127.0.0.1 -U postgres -d sqlexp -v csv="$PWD/bench/out/dispensing_1000000.csv" \
--        -f bench/pg_sql_convert.sql
--
-- The CSV is the one bench/core_bench.py writes; COPY reads it on the server, so the server's
-- user must be able to read it.
\timing on
DROP TABLE IF EXISTS raw_dispensing, stage, target;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TABLE raw_dispensing (setl_id TEXT, mdtrt_sn TEXT, fixmedins_code TEXT, psn_no TEXT, certno TEXT, psn_name TEXT, dr_code TEXT, rxno TEXT, med_list_codg TEXT, drug_trac_codg TEXT, trdn_flag SMALLINT, sel_retn_cnt INTEGER, sel_retn_time TIMESTAMP, sel_retn_type TEXT, mdtrt_setl_type SMALLINT, finl_trns_pric NUMERIC, hifp_pay NUMERIC, manu_lotnum TEXT, expy_end DATE);
CREATE INDEX ix_raw_code ON raw_dispensing (drug_trac_codg);
\echo raw COPY
COPY raw_dispensing FROM :'csv' (FORMAT csv, HEADER);
CREATE UNLOGGED TABLE stage (setl_id TEXT, mdtrt_sn TEXT, fixmedins_code TEXT, psn_no TEXT, certno TEXT, psn_name TEXT, dr_code TEXT, rxno TEXT, med_list_codg TEXT, drug_trac_codg TEXT, trdn_flag TEXT, sel_retn_cnt TEXT, sel_retn_time TEXT, sel_retn_type TEXT, mdtrt_setl_type TEXT, finl_trns_pric TEXT, hifp_pay TEXT, manu_lotnum TEXT, expy_end TEXT);
\echo staging COPY
COPY stage FROM :'csv' (FORMAT csv, HEADER);
CREATE TABLE target (id BIGSERIAL PRIMARY KEY, row_digest BYTEA UNIQUE, file_id BIGINT, line_no BIGINT, setl_id VARCHAR(64), mdtrt_sn VARCHAR(64), fixmedins_code VARCHAR(64), psn_no VARCHAR(64), certno_hmac VARCHAR(32), certno_masked VARCHAR(32), psn_name_hmac VARCHAR(32), psn_name_masked VARCHAR(32), dr_code VARCHAR(64), rxno VARCHAR(64), med_list_codg VARCHAR(64), drug_trac_codg TEXT, code_family VARCHAR(8), key_hi BIGINT, key_lo BIGINT, trdn_flag SMALLINT, sel_retn_cnt INTEGER, sel_retn_time TIMESTAMP, sel_retn_type VARCHAR(8), mdtrt_setl_type SMALLINT, finl_trns_pric_e4 BIGINT, hifp_pay_fen BIGINT, manu_lotnum VARCHAR(64), expy_end DATE, extra JSON);
\echo convert in SQL: casts only
INSERT INTO target (row_digest, file_id, line_no, setl_id, mdtrt_sn, fixmedins_code, psn_no, certno_hmac, certno_masked, psn_name_hmac, psn_name_masked, dr_code, rxno, med_list_codg, drug_trac_codg, code_family, key_hi, key_lo, trdn_flag, sel_retn_cnt, sel_retn_time, sel_retn_type, mdtrt_setl_type, finl_trns_pric_e4, hifp_pay_fen, manu_lotnum, expy_end)
SELECT decode(md5(setl_id || drug_trac_codg || sel_retn_time), 'hex'), 1, 0, setl_id, nullif(mdtrt_sn,''), fixmedins_code, psn_no, left(certno, 32), left(certno, 6) || '****', left(psn_name, 32), left(psn_name,1) || '**', dr_code, rxno, med_list_codg, drug_trac_codg, 'national', substr(drug_trac_codg,1,10)::bigint, substr(drug_trac_codg,11)::bigint, trdn_flag::smallint, sel_retn_cnt::int, sel_retn_time::timestamp, sel_retn_type, mdtrt_setl_type::smallint, (finl_trns_pric::numeric * 10000)::bigint, (hifp_pay::numeric * 100)::bigint, manu_lotnum, expy_end::date FROM stage;
TRUNCATE target;
\echo convert in SQL: with HMACs and a SHA-256 row digest
INSERT INTO target (row_digest, file_id, line_no, setl_id, mdtrt_sn, fixmedins_code, psn_no, certno_hmac, certno_masked, psn_name_hmac, psn_name_masked, dr_code, rxno, med_list_codg, drug_trac_codg, code_family, key_hi, key_lo, trdn_flag, sel_retn_cnt, sel_retn_time, sel_retn_type, mdtrt_setl_type, finl_trns_pric_e4, hifp_pay_fen, manu_lotnum, expy_end)
SELECT substr(sha256(convert_to(concat_ws(E'\x1f', setl_id, mdtrt_sn, fixmedins_code, psn_no, certno, psn_name, dr_code, rxno, med_list_codg, drug_trac_codg, trdn_flag, sel_retn_cnt, sel_retn_time, sel_retn_type, mdtrt_setl_type, finl_trns_pric, hifp_pay, manu_lotnum, expy_end), 'UTF8')), 1, 16), 1, 0, setl_id, nullif(mdtrt_sn,''), fixmedins_code, psn_no, left(encode(hmac(upper(trim(certno)), 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'sha256'), 'hex'), 32), left(certno, 6) || '****', left(encode(hmac(upper(trim(psn_name)), 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'sha256'), 'hex'), 32), left(psn_name,1) || '**', dr_code, rxno, med_list_codg, drug_trac_codg, 'national', substr(drug_trac_codg,1,10)::bigint, substr(drug_trac_codg,11)::bigint, trdn_flag::smallint, sel_retn_cnt::int, sel_retn_time::timestamp, sel_retn_type, mdtrt_setl_type::smallint, (finl_trns_pric::numeric * 10000)::bigint, (hifp_pay::numeric * 100)::bigint, manu_lotnum, expy_end::date FROM stage;
