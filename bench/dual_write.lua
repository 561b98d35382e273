-- One write per event on t_order, by key: an UPDATE of an existing row (keys are seq * 7,
-- as bench/migrate.sh loads them). Run through shardgate before and during a migration to
-- see the latency dual-write adds.
sysbench.cmdline.options = {
  rows = {"Rows loaded into t_order (keys 7, 14, ... 7 * rows)", 200000},
}

function thread_init()
  drv = sysbench.sql.driver()
  con = drv:connect()
end

function thread_done()
  con:disconnect()
end

function event()
  local k = sysbench.rand.uniform(1, sysbench.opt.rows) * 7
  con:query(string.format(
    "UPDATE t_order SET status = 'b%d', amount = amount + 1 WHERE order_id = %d",
    sysbench.rand.uniform(1, 1000), k))
end
