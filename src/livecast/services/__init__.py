"""Services: the domain rules applied to the database, one class per aggregate.

A service is built per unit of work around one ``AsyncSession``; it flushes but leaves the
commit to the caller, so one request is one transaction.
"""
