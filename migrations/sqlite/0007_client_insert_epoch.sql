-- A new client moves the cache epoch too: instances keep the set of enabled clients in memory
-- (a disabled or deleted client's tokens stop working within seconds), and a new client must
-- join that set as fast as a disabled one leaves it.
CREATE TRIGGER clients_inserted AFTER INSERT ON clients
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
