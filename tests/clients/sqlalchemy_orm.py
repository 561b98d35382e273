"""The client-matrix scenario (README.md) through the SQLAlchemy 2 ORM over PyMySQL.

Usage: sqlalchemy_orm.py DIALECT HOST PORT USER PASSWORD DATABASE TAG
DIALECT: mysql+pymysql | mariadb+pymysql
"""

import sys
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Integer, Numeric, String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, joinedload, mapped_column, relationship

dialect, host, port, user, password, database, tag = sys.argv[1:8]
tag = int(tag)


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "t_order"
    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="new")
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    items: Mapped[list["OrderItem"]] = relationship(
        back_populates="order", order_by="OrderItem.item_id", cascade="all, delete-orphan"
    )


class OrderItem(Base):
    __tablename__ = "t_order_item"
    order_id: Mapped[int] = mapped_column(ForeignKey("t_order.order_id"), primary_key=True)
    item_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    sku: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer)
    order: Mapped[Order] = relationship(back_populates="items")


engine = create_engine(
    f"{dialect}://{user}:{password}@{host}:{port}/{database}",
    isolation_level="READ COMMITTED",
)
with engine.connect() as conn:
    print("connected")
    print(f"isolation: {conn.get_isolation_level()}")

with Session(engine) as session:
    order = session.get(Order, 1037)
    print(f"point: {order.order_id}|{order.user_id}|{order.status}|{order.amount}")
    rows = session.execute(
        select(Order.status, func.count(), func.sum(Order.amount))
        .where(Order.user_id < 100)
        .group_by(Order.status)
        .order_by(Order.status)
    ).all()
    for row in rows:
        print("scatter: " + "|".join(str(v) for v in row))

    # add_all without keys: the ids come back (RETURNING on MariaDB, one INSERT per row
    # otherwise) and each object gets its own.
    orders = [Order(user_id=tag, status="new", amount=Decimal(f"{n}.50")) for n in range(1, 6)]
    session.add_all(orders)
    session.commit()
    ids = [o.order_id for o in orders]
    print(f"add_all ids: {'distinct and positive' if len(set(ids)) == 5 and min(ids) > 0 else ids}")
    for o in orders:
        again = session.execute(select(Order.amount).where(Order.order_id == o.order_id)).scalar_one()
        assert again == o.amount, (o.order_id, again, o.amount)
    print("each id finds its own row: yes")

    # A relationship: items take the order's generated key.
    parent = Order(
        user_id=tag,
        status="items",
        amount=Decimal("9.99"),
        items=[OrderItem(item_id=i, sku=f"sku-{i}", quantity=i) for i in (1, 2, 3)],
    )
    session.add(parent)
    session.commit()
    parent_id = parent.order_id
    session.expunge_all()
    loaded = session.get(Order, parent_id)
    print("items: " + ",".join(f"{i.sku}x{i.quantity}" for i in loaded.items))

    # begin_nested: a SAVEPOINT rolled back inside a committed transaction.
    session.add(Order(user_id=tag, status="outer", amount=Decimal("1.00")))
    nested = session.begin_nested()
    session.add(Order(user_id=tag, status="inner", amount=Decimal("2.00")))
    session.flush()
    nested.rollback()
    session.commit()
    statuses = session.scalars(
        select(Order.status).where(Order.user_id == tag).order_by(Order.status).distinct()
    ).all()
    print("statuses: " + ",".join(statuses))

    # joinedload: the orders joined to their items (bound tables, joined on the key).
    session.expunge_all()
    loaded = (
        session.scalars(
            select(Order)
            .options(joinedload(Order.items))
            .where(Order.user_id == tag)
            .order_by(Order.amount.desc(), Order.order_id)
        )
        .unique()
        .all()
    )
    print("joinedload: " + ";".join(f"{o.amount}:{len(o.items)}" for o in loaded))
    # With LIMIT and OFFSET, SQLAlchemy puts the limited orders in a derived table and joins
    # the items to it: shardgate runs it in two phases.
    session.expunge_all()
    for offset in (0, 1):
        page = (
            session.scalars(
                select(Order)
                .options(joinedload(Order.items))
                .where(Order.user_id == tag)
                .order_by(Order.amount.desc(), Order.order_id)
                .limit(2)
                .offset(offset)
            )
            .unique()
            .all()
        )
        print(
            f"joinedload page {offset}: "
            + ";".join(f"{o.amount}:{sorted(i.sku for i in o.items)}" for o in page)
        )

    total = session.execute(
        select(func.count(), func.sum(Order.amount)).where(Order.user_id == tag)
    ).one()
    print(f"count and sum: {total[0]}|{total[1]}")

    # Cleanup through the ORM: the items go with their order.
    for o in session.scalars(select(Order).where(Order.user_id == tag)).all():
        session.delete(o)
    session.commit()
    left = session.execute(select(func.count()).select_from(Order).where(Order.user_id == tag)).scalar_one()
    print(f"left: {left}")
print("done")
