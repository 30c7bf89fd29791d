"""Teleconsultation between facilities, remote visits, referrals, scheduling and video sessions."""
