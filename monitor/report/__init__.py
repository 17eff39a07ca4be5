"""The weekly uptime report: pure maths over stored figures, then charts, rendering and delivery.

``week``      the ISO week in the fleet's time zone (DST-proof bounds)
``maths``     pure: rollups, state intervals, incident spans, requests, tickets -> WeeklyReport
``queries``   the store -> the maths' input values
``charts``    heatmap and downtime-by-cause PNGs (matplotlib, Japanese-capable font)
``render``    Jinja2 HTML (mail, ja + en), PDF (WeasyPrint), CSV (UTF-8 with BOM)
``delivery``  the Monday mail: sent-report claim, SMTP with attachments, APScheduler job
"""
