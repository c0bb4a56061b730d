"""Small pieces of the Nova lab (scripts/lab): not OpenStack code, only what runs it without Keystone."""
