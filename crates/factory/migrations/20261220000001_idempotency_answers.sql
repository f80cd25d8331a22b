-- Stock POSTs now store the answer itself under an Idempotency-Key (the
-- one flow of `platform::idempotency`), where records before this version
-- held the ids of the moves written. Such a record cannot be replayed as
-- an answer: it is forgotten, as it would have been by the purge within a
-- day. A retry of a request sent before the upgrade therefore counts as a
-- new request.
DELETE FROM idempotency_keys WHERE body NOT LIKE '{%';
