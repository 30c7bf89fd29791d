"""Teleconsultation between facilities, remote visits, referrals, scheduling and video sessions.

- :mod:`.rooms`: video rooms bound to an Appointment, WebRTC signalling (docs/telehealth-video.md);
- :mod:`.consults`: consults between facilities (ServiceRequest + Task), store-and-forward messages, the
  signed conclusion in both facilities' records (docs/telehealth-consults.md).
"""
