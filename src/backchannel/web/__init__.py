"""The pages people see: the event page and its hashtag kit, the wall for the hall,
the moderator console, attendee columns and the organiser's forms.

Server-rendered Jinja2, hand-written CSS and a little vanilla JavaScript; no build step.
"""
