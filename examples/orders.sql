-- Logical tables of examples/orders.yaml. `shardgate sandbox --schema` routes each statement,
-- so CREATE TABLE t_order runs on all 1024 physical tables. One statement per `;`.
CREATE TABLE t_order (
  order_id BIGINT NOT NULL PRIMARY KEY,
  user_id BIGINT NOT NULL,
  status VARCHAR(16) NOT NULL DEFAULT 'new',
  amount DECIMAL(12, 2) NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  KEY idx_user (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE t_order_item (
  order_id BIGINT NOT NULL,
  item_id BIGINT NOT NULL,
  sku VARCHAR(32) NOT NULL,
  quantity INT NOT NULL,
  PRIMARY KEY (order_id, item_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE t_currency (
  code CHAR(3) NOT NULL PRIMARY KEY,
  rate DECIMAL(12, 6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE t_shop_setting (
  name VARCHAR(64) NOT NULL PRIMARY KEY,
  value VARCHAR(255) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
