"""SMS provider adapters: one module per provider, all speaking the types of :mod:`.base`.

Nothing provider-specific leaves its module. The rest of TextDesk sees only
neutral types (InboundSMS, StatusReport, SendResult) and the error hierarchy.
"""
