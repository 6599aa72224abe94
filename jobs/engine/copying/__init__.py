"""What sync and restore share: writing to the destination mailbox and recognising what is there."""
