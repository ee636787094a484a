"""The portal: a small web application over the flow, for people who do not use a terminal.

An optional layer (``pip install cudaswitch[portal]``): nothing below it imports it. It lists
the slots and how each fits this host, and runs facefuse jobs (and commands an admin
registered) under a chosen slot through the same flow as ``cudaswitch exec --slot``.
"""
